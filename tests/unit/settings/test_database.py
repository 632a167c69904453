"""`storage.database`: a path or a PostgreSQL URL, anything else refused with a sentence; the URL's
password never shown; the files derived from it (health report, callback key) per backend; what
`check` proves for a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.preflight import storage_problems
from bot.domain.errors import ConfigError
from bot.settings import StorageSettings
from bot.settings.database import (
    callback_key_file,
    health_file_for,
    shown_database,
    without_password,
)
from bot.settings.mistakes import describe_settings
from bot.settings.reading import load_settings

# Long and random-looking: the kind of password an operator generates.
PASSWORD = "Xq7vR2mLp9TzK4wN8sJd3FhY6bGc1aUe"
URL = f"postgresql://kling:{PASSWORD}@db.internal:5432/kling"
ALLOWED = (
    "give a file path (SQLite, one bot process) or a "
    "postgresql://user:password@host:5432/database URL (PostgreSQL)"
)


def refusal(tmp_path: Path, database: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, {})
    (problem,) = refused.value.problems
    return problem


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("data/kling-bot.sqlite3", Path("data/kling-bot.sqlite3")),
        ("  /var/lib/kling/bot.db  ", Path("/var/lib/kling/bot.db")),
        ("C:/kling/bot.sqlite3", Path("C:/kling/bot.sqlite3")),  # a drive, not a scheme
        (URL, URL),
        ("postgres://kling@db.internal/kling", "postgres://kling@db.internal/kling"),
        ("postgresql:///kling?host=/run/postgresql", "postgresql:///kling?host=/run/postgresql"),
        ("postgresql://db.internal/kling?sslmode=require", None),
    ],
)
def test_a_path_is_sqlite_and_a_postgresql_url_is_kept_as_written(
    database: str, expected: Path | str | None
) -> None:
    storage = StorageSettings(database=database)  # type: ignore[arg-type]
    assert storage.database == (database if expected is None else expected)
    assert storage.is_postgresql == isinstance(storage.database, str)


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        (
            "mysql://kling:pw@db/kling",
            f"names a mysql database (mysql:…), which this bot can't use: {ALLOWED}",
        ),
        (
            "postgressql://kling@db/kling",
            f"starts with postgressql:, which is no database (did you mean postgresql://?): "
            f"{ALLOWED}",
        ),
        (
            "sqlite:///data/bot.sqlite3",
            "is a sqlite: URL, but an SQLite database is given as a plain file path, like "
            'database = "data/kling-bot.sqlite3"',
        ),
        (
            "postgresql:/kling:pw@db/kling",
            "must start with postgresql:// (two slashes), like "
            "postgresql://user:password@host:5432/database",
        ),
        ("postgresql://db:54x2/kling", "has a port that is not a number from 1 to 65535"),
        ("postgresql://kling:pa/ss@db/kling", "has a / in its user or password: write it as %2F"),
        ("postgresql://", "names no server and no database"),
        ("", f"is empty: {ALLOWED}"),
    ],
    ids=["mysql", "typo", "sqlite-url", "one-slash", "port", "slash-in-password", "bare", "empty"],
)
def test_any_other_database_is_refused_saying_what_is_allowed(
    tmp_path: Path, database: str, expected: str
) -> None:
    problem = refusal(tmp_path, database)
    assert problem.startswith(f"{tmp_path / 'config.toml'}: storage.database = ")
    assert expected in problem
    assert ":pw@" not in problem and "pa/ss" not in problem


def test_a_refusal_never_shows_the_password(tmp_path: Path) -> None:
    problem = refusal(tmp_path, URL.replace("postgresql://", "postgresq://"))
    assert PASSWORD not in problem
    assert "storage.database = 'postgresq://kling:***@db.internal:5432/kling' starts with" in (
        problem
    )


def test_check_shows_the_url_masked_not_as_a_misplaced_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\ndatabase = "{URL}"\n', encoding="utf-8")
    settings, _ = load_settings(path, {})
    described = describe_settings(settings)
    assert "storage.database = 'postgresql://kling:***@db.internal:5432/kling'" in described
    assert PASSWORD not in "\n".join(described)


def test_shown_and_without_password() -> None:
    assert shown_database(URL) == "postgresql://kling:***@db.internal:5432/kling"
    assert shown_database(Path("data/bot.sqlite3")) == str(Path("data/bot.sqlite3").absolute())
    assert without_password(URL) == "postgresql://kling@db.internal:5432/kling"
    assert without_password("postgresql://db/kling") == "postgresql://db/kling"


def test_the_health_file_and_the_callback_key_per_backend(tmp_path: Path) -> None:
    sqlite = StorageSettings(database=tmp_path / "bot.sqlite3", media_dir=tmp_path / "media")
    assert health_file_for(sqlite) == tmp_path / "bot.sqlite3.health"
    assert callback_key_file(sqlite) == tmp_path / "bot.sqlite3.callback-key"
    shared = StorageSettings(database=URL, media_dir=tmp_path / "media")
    # Every process of the bot shares media_dir: one key for all, one health report each.
    assert callback_key_file(shared) == tmp_path / "media" / "callback-key"
    assert health_file_for(shared) == tmp_path / "media" / "health" / "bot.health"
    assert health_file_for(shared, (3, 1)) == tmp_path / "media" / "health" / "shards-1-3.health"
    assert health_file_for(shared, (0,)) != health_file_for(shared, (1,))


def test_check_proves_the_media_dir_for_a_url_and_touches_no_file(tmp_path: Path) -> None:
    (tmp_path / "media").write_text("a file where media should be")
    problems = storage_problems(StorageSettings(database=URL, media_dir=tmp_path / "media"))
    assert problems == [
        f"storage.media_dir = {tmp_path / 'media'}: it is a file, not a directory: choose "
        "another path."
    ]
    assert storage_problems(StorageSettings(database=URL, media_dir=tmp_path / "m")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]  # no lock, no database file

"""The storage paths `check` and `run` prove usable before the bot starts (in-process).

A directory the bot's user can't write is shown with `kling-bot check` run as another user in
cli/test_check.py; these are the cases any user can build: files where folders should be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.preflight import storage_problems
from bot.settings import StorageSettings
from bot.store.sql_store import SqlStore


def storage(database: Path, media_dir: Path) -> StorageSettings:
    return StorageSettings(database=database, media_dir=media_dir)


def test_fresh_paths_under_a_writable_folder_pass_and_nothing_is_created(tmp_path: Path) -> None:
    assert storage_problems(storage(tmp_path / "data/bot.sqlite3", tmp_path / "data/media")) == []
    assert list(tmp_path.iterdir()) == []  # proven by a probe file, removed again


async def test_the_bots_own_database_passes(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    await (await SqlStore.open(database)).close()
    assert storage_problems(storage(database, tmp_path / "media")) == []


@pytest.mark.parametrize(
    ("layout", "database", "media_dir", "expected"),
    [
        (
            {"data/db": None},
            "data/db",
            "media",
            "storage.database = {root}/data/db is a directory: name the database file, like "
            "{root}/data/db/kling-bot.sqlite3.",
        ),
        (
            {"data": "a file"},
            "data/sub/bot.sqlite3",
            "media",
            "storage.database = {root}/data/sub/bot.sqlite3: {root}/data is a file, not a "
            "directory: choose another path.",
        ),
        (
            {"bot.sqlite3": "notes, not a database"},
            "bot.sqlite3",
            "media",
            "storage.database = {root}/bot.sqlite3 is not a SQLite database: point it at a new "
            "file (the bot creates it) or at the bot's own database.",
        ),
        (
            {"media": "a file"},
            "bot.sqlite3",
            "media",
            "storage.media_dir = {root}/media: it is a file, not a directory: choose another "
            "path.",
        ),
        (
            {"data": "a file"},
            "bot.sqlite3",
            "data/media",
            "storage.media_dir = {root}/data/media: {root}/data is a file, not a directory: "
            "choose another path.",
        ),
    ],
    ids=["database-is-a-dir", "database-under-a-file", "not-sqlite", "media-is-a-file",
         "media-under-a-file"],
)  # fmt: skip
def test_a_path_the_bot_cannot_use_names_its_key(
    tmp_path: Path,
    layout: dict[str, str | None],
    database: str,
    media_dir: str,
    expected: str,
) -> None:
    for name, content in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        else:
            path.write_text(content)
    problems = storage_problems(storage(tmp_path / database, tmp_path / media_dir))
    assert problems == [expected.format(root=tmp_path)]


def test_both_keys_are_named_at_once(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")
    problems = storage_problems(
        storage(tmp_path / "blocker/bot.sqlite3", tmp_path / "blocker/media")
    )
    assert [p.split(" = ")[0] for p in problems] == ["storage.database", "storage.media_dir"]


def test_a_database_url_is_not_probed_as_a_path_nor_echoed(tmp_path: Path) -> None:
    url = Path("postgresql://kling:hunter2-Secret@db.example/kling")
    assert storage_problems(storage(url, tmp_path / "media")) == []
    secret_path = tmp_path / "sk-live-9f8e7d6c5b4a39281706" / "media"
    (problem,) = storage_problems(storage(tmp_path / "bot.sqlite3", secret_path))
    assert problem == (
        "storage.media_dir (its value looks like a token or key, so not shown): give a path; "
        "secrets belong in discord.token or omni.api_key."
    )
    assert list(tmp_path.iterdir()) == []

"""What `storage.database` names, and the files that derive from it.

A path is an SQLite file, for one bot process; a `postgresql://` (or `postgres://`) URL is a
PostgreSQL server, which several processes share. Any other scheme is refused with a sentence
(before this, `mysql://…` or `postgresql:/x` would quietly have become an SQLite file's name). The
URL's password is a secret: `shown_database` masks it wherever the database is named.

Where the files the bot keeps beside its database go:
- SQLite: beside the file (`<database>.health`, `<database>.callback-key`), as before.
- PostgreSQL: in `storage.media_dir`, which every process of the bot must share anyway (a task's
  kept inputs may be sent by another process): the callback key once for all processes (each
  verifies the callback URLs the others signed), the health file one per process, named after
  the shards it runs.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.domain.callback_tokens import callback_key_path
from bot.domain.credentials import mask_passwords

if TYPE_CHECKING:
    from bot.settings import StorageSettings

POSTGRESQL_SCHEMES = ("postgresql", "postgres")
EXAMPLE_URL = "postgresql://user:password@host:5432/database"
ALLOWED = f"give a file path (SQLite, one bot process) or a {EXAMPLE_URL} URL (PostgreSQL)"
# `word:` at the start: a URL's scheme. Two characters at least: `C:\…` is a Windows drive.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_SQLITE_SCHEMES = ("sqlite", "sqlite3", "file")


def check_database(value: object) -> Path | str:
    """`storage.database` as given: a Path (SQLite) or the PostgreSQL URL; ValueError with a
    sentence that never repeats the value (it may hold a password) otherwise."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise ValueError('must be text in quotes, like database = "data/kling-bot.sqlite3"')
    text = value.strip()
    if not text:
        raise ValueError(f"is empty: {ALLOWED}")
    scheme = _SCHEME.match(text)
    if scheme is None:
        return Path(text)
    name = scheme.group(1).lower()
    if name not in POSTGRESQL_SCHEMES:
        raise ValueError(_other_scheme(name))
    return check_postgresql_url(text)


def _other_scheme(name: str) -> str:
    if name in _SQLITE_SCHEMES:
        return (
            f"is a {name}: URL, but an SQLite database is given as a plain file path, like "
            'database = "data/kling-bot.sqlite3"'
        )
    close = difflib.get_close_matches(name, POSTGRESQL_SCHEMES, n=1, cutoff=0.7)
    if close:
        return f"starts with {name}:, which is no database (did you mean {close[0]}://?): {ALLOWED}"
    return (
        f"names a {name} database ({name}:…), which this bot can't use: {ALLOWED} (a file "
        "whose name has a colon in it: write ./ before it)"
    )


def check_postgresql_url(url: str) -> str:
    """A `postgresql://` URL as asyncpg reads it, or ValueError saying what is wrong (the URL
    itself, with its password, is never in the sentence)."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() not in POSTGRESQL_SCHEMES:
        raise ValueError(f"is not a PostgreSQL URL: write it like {EXAMPLE_URL}")
    if not rest.startswith("//"):
        raise ValueError(f"must start with {scheme}:// (two slashes), like {EXAMPLE_URL}")
    if any(character.isspace() for character in url):
        raise ValueError("has a space in it, which a URL never has: write it as %20")
    parts = urlsplit(url)
    if "@" in parts.path:
        raise ValueError(
            "has a / in its user or password: write it as %2F (and an @ as %40), "
            f"like {EXAMPLE_URL}"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"has a port that is not a number from 1 to 65535, like {EXAMPLE_URL}")
    if not parts.netloc and parts.path in ("", "/"):
        raise ValueError(f"names no server and no database: write it like {EXAMPLE_URL}")
    return url


def shown_database(database: Path | str) -> str:
    """The database for a message or a log line: the file's absolute path, or the URL with its
    password masked (`postgresql://user:***@host:5432/db`)."""
    if isinstance(database, Path):
        return str(database.absolute())
    return mask_passwords(database)


def without_password(url: str) -> str:
    """The URL with its password left out (`postgresql://user@host/db`), for a command to paste:
    the tools read the password from PGPASSWORD or ~/.pgpass."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user.partition(':')[0]}@{host}").geturl()


def health_file_for(storage: StorageSettings, shard_ids: tuple[int, ...] = ()) -> Path:
    """Where a bot process without an HTTP server writes its health report for `kling-bot
    health`: beside an SQLite file; in media_dir for PostgreSQL, one file per process (named
    after the shards it runs, so processes sharing media_dir never share a health file)."""
    if isinstance(storage.database, Path):
        return storage.database.with_name(storage.database.name + ".health")
    name = "shards-" + "-".join(map(str, sorted(shard_ids))) if shard_ids else "bot"
    return storage.media_dir / "health" / f"{name}.health"


def callback_key_file(storage: StorageSettings) -> Path:
    """Where the key that signs Omni callback URLs is kept: beside an SQLite file; in media_dir
    for PostgreSQL, where every process finds the one key (a callback may reach any of them)."""
    if isinstance(storage.database, Path):
        return callback_key_path(storage.database)
    return storage.media_dir / "callback-key"

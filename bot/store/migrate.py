"""Numbered schema migrations: `bot/migrations/NNNN_name.sql`, applied in order once each.

The database's `PRAGMA user_version` is the number of the last migration applied. Each migration
runs in its own BEGIN IMMEDIATE transaction together with the new user_version, so a crash leaves
the schema either before or after a migration, never half-way.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import aiosqlite

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number (the user_version it leads to), its name and its SQL."""

    version: int
    name: str
    sql: str


def load_migrations(package: str = "bot.store", folder: str = "migrations") -> list[Migration]:
    """The packaged migrations, in order; refuses gaps and duplicate numbers."""
    # Read through importlib.resources so the files are found inside an installed wheel too.
    root = resources.files(package).joinpath(folder)
    found: list[Migration] = []
    for entry in root.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1, 2, 3… without gaps; found {numbers}")
    return found


def pending(migrations: Sequence[Migration], version: int) -> list[Migration]:
    """The migrations a database at schema `version` still needs, in order; a database newer
    than every migration this bot has is refused (a newer bot wrote it)."""
    latest = migrations[-1].version if migrations else 0
    if version > latest:
        raise RuntimeError(
            f"the database is at schema version {version} but this bot knows only up to "
            f"{latest}: it was written by a newer version of the bot"
        )
    return [m for m in migrations if m.version > version]


def split_statements(script: str) -> list[str]:
    """Cut a SQL script into its statements (a `;` inside a trigger, string or comment stays)."""
    statements: list[str] = []
    pending = ""
    *ended, tail = script.split(";")  # every piece but the tail was followed by a semicolon
    for piece in ended:
        pending += piece + ";"
        # complete_statement knows SQLite's own rules for where a statement ends.
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                statements.append(pending.strip())
            pending = ""
    if _has_code(pending + tail):
        raise ValueError(f"the script ends with an incomplete statement: {pending + tail!r}")
    return statements


def _has_code(text: str) -> bool:
    lines = (line.split("--", 1)[0].strip() for line in text.splitlines())
    return any(line and line != ";" for line in lines)


async def user_version(db: aiosqlite.Connection) -> int:
    """The number of the last migration applied to this database (0 for a new one)."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def migrate(db: aiosqlite.Connection, migrations: Sequence[Migration]) -> int:
    """Apply every migration newer than the database; returns the resulting user_version.

    `db` must be in autocommit mode (isolation_level=None): each migration opens its own
    transaction. Safe when several processes open the same new database at once.
    """
    version = await user_version(db)
    for migration in pending(migrations, version):
        await db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = await user_version(db)
            if version < migration.version:
                for statement in split_statements(migration.sql):
                    await db.execute(statement)
                # PRAGMA takes no parameters; the value is an int parsed from the file name.
                await db.execute(f"PRAGMA user_version = {migration.version:d}")
                version = migration.version
                log.info("applied migration %04d_%s", migration.version, migration.name)
            await db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # the error may have ended it already
                await db.execute("ROLLBACK")
            raise
    return version

"""`kling-bot db backup PATH`: a consistent copy of the SQLite database, taken while it runs.

SQLite's online backup API copies every page as one consistent snapshot, whatever the bot writes
meanwhile (in WAL mode the bot's writes are not blocked). The copy is written beside the target
and renamed into place only once complete and checked, as a single file (journal mode DELETE) that
can be copied anywhere; the blocking work runs in a thread. PostgreSQL has `pg_dump` for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.domain.errors import KlingBotError


class BackupError(KlingBotError):
    """The backup could not be made; the sentence says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupDone:
    """A finished backup: where, how large, how many tasks it holds."""

    path: Path
    size_bytes: int
    tasks: int


async def backup_database(database: Path, target: Path, *, overwrite: bool = False) -> BackupDone:
    """Copy `database` to `target` with SQLite's backup API, off the event loop."""
    return await asyncio.to_thread(_backup, database, target, overwrite)


def _backup(database: Path, target: Path, overwrite: bool) -> BackupDone:
    if not database.is_file():
        raise BackupError(f"There is no database at {database} (storage.database) to back up.")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists already: give another path, or add --overwrite.")
    if target.resolve() == database.resolve():
        raise BackupError("The backup can't replace the database itself: give another path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.unlink(missing_ok=True)
    try:
        # Read-only: a backup must never change (or create, or migrate) the live database.
        with (
            contextlib.closing(
                sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
            ) as source,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            source.execute("PRAGMA busy_timeout = 10000")
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"The copy failed its integrity check: {problems[0]}")
            tasks = _count_tasks(copy)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"{database} could not be backed up: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupDone(target, target.stat().st_size, tasks)


def _count_tasks(connection: sqlite3.Connection) -> int:
    try:
        row = connection.execute("SELECT COUNT(*) FROM tasks").fetchone()
    except sqlite3.OperationalError:
        raise BackupError("That file is not a kling-bot database (it has no tasks).") from None
    return int(row[0])

"""One SQLite database for the store: the connection, its pragmas, migrations and transactions.

aiosqlite runs the connection on its own thread, so the event loop never waits on the disk. The
domain operations built on this live in `bot/store/sqlite.py` (tasks) and `bot/store/quotas.py`
(quota).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from bot.store.migrate import load_migrations, migrate

log = logging.getLogger(__name__)


class SqliteDatabase:
    """An open database file in WAL mode with an up-to-date schema; use `await cls.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection is shared by every coroutine; a transaction spans several awaits, so
        # this lock keeps another coroutine's statements from landing inside it.
        self._lock = asyncio.Lock()
        self._is_closed = False

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_ms: int = 5000) -> Self:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every BEGIN/COMMIT here is explicit.
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            # A writer in another process (or another store) is waited for this long.
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
            async with db.execute("PRAGMA journal_mode = WAL") as cursor:
                mode = await cursor.fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                log.warning("SQLite refused WAL mode for %s (got %s)", path, mode)
            # With WAL, NORMAL commits append to the WAL without an fsync; the OS holds the bytes,
            # so a crash or kill -9 of the bot loses nothing committed. Only a power cut or kernel
            # crash can drop the last commits (never corrupting the file); FULL would fsync every
            # commit to cover that too, at a cost the bot's write rate does not justify.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await migrate(db, load_migrations())
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        """Let SQLite refresh its planner statistics, then close the connection (idempotent)."""
        async with self._lock:
            if self._is_closed:
                return
            self._is_closed = True
            with contextlib.suppress(sqlite3.Error):
                await self._db.execute("PRAGMA optimize")
            await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def integrity_check(self) -> str:
        """PRAGMA integrity_check and foreign_key_check: 'ok' or one line per problem."""
        async with self._lock:
            problems = [str(r[0]) for r in await self._all("PRAGMA integrity_check")]
            if problems == ["ok"]:
                problems = []
            for row in await self._all("PRAGMA foreign_key_check"):
                problems.append(f"row {row[1]} of {row[0]} points to a missing {row[2]}")
        return "\n".join(problems) or "ok"

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[None]:
        """One BEGIN IMMEDIATE transaction: the write lock is taken first, so read-modify-write
        sequences of several stores or processes queue up instead of failing on upgrade."""
        async with self._lock:
            try:
                # Inside the try: if we are cancelled while BEGIN is queued, the ROLLBACK below
                # still runs after it on the connection's thread, so no transaction stays open.
                await self._db.execute("BEGIN IMMEDIATE")
                yield
                await self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # "no transaction is active" is fine
                    await asyncio.shield(self._db.execute("ROLLBACK"))
                raise

    # One trip to the connection's thread per query (a cursor would take three: execute, fetch,
    # close): every trip costs the event loop a handoff, and a burst of commands makes many.
    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def _count(self, sql: str, params: Sequence[Any]) -> int:
        row = await self._one(sql, params)
        return int(row[0]) if row is not None else 0


def to_db_time(moment: datetime) -> str:
    """A UTC datetime as fixed-width ISO text ('2025-01-31T23:59:59.123456Z'): text order is time
    order, so indexes and window sums compare it as text; it round-trips to the microsecond."""
    if moment.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware (UTC), not naive: {moment!r}")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_db_time(text: str) -> datetime:
    """The aware UTC datetime stored by `to_db_time` (the trailing Z makes it aware)."""
    return datetime.fromisoformat(text)


def from_db_time_or_none(text: str | None) -> datetime | None:
    """`from_db_time` for a nullable column."""
    return None if text is None else datetime.fromisoformat(text)

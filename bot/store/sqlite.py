"""The SQLite backend: one database file in WAL mode, for one bot process.

aiosqlite runs the connection on its own thread, so the event loop never waits on the disk. One
connection serves every coroutine; an asyncio lock keeps one session's statements together, and
a write is one BEGIN IMMEDIATE transaction, so writers (in this process or another) queue up
instead of failing when they upgrade a read lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.store.migrate import load_migrations, migrate
from bot.store.sql import SQLITE, Row

log = logging.getLogger(__name__)


class SqliteSession:
    """Statements on the backend's one connection (the caller holds its lock)."""

    for_update = ""  # BEGIN IMMEDIATE already locks the whole database for the transaction
    skip_locked = ""  # likewise: no other writer is claiming rows meanwhile

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    # One trip to the connection's thread per query (a cursor would take three: execute, fetch,
    # close): every trip costs the event loop a handoff, and a burst of commands makes many.
    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    async def notify_queue(self) -> None:
        return None  # one process per SQLite database: it wakes its own loops


class SqliteBackend:
    """An open database file with an up-to-date schema; use `await SqliteBackend.open(path)`."""

    dialect = SQLITE

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.connection = db
        self.path = path
        # A transaction spans several awaits: this lock keeps another coroutine's statements
        # from landing inside it.
        self._lock = asyncio.Lock()
        self._session = SqliteSession(db)
        self._is_closed = False

    @property
    def where(self) -> str:
        """Where the data is, for messages."""
        return str(self.path)

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

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteSession]:
        async with self._lock:
            yield self._session

    @contextlib.asynccontextmanager
    async def write(self, *, lock: int | None = None) -> AsyncIterator[SqliteSession]:
        # BEGIN IMMEDIATE takes the write lock first, so every write transaction, whatever its
        # `lock` key, runs alone: read-modify-write sequences queue up instead of failing.
        async with self._lock:
            try:
                # Inside the try: if we are cancelled while BEGIN is queued, the ROLLBACK below
                # still runs after it on the connection's thread, so no transaction stays open.
                await self.connection.execute("BEGIN IMMEDIATE")
                yield self._session
                await self.connection.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # "no transaction is active" is fine
                    await asyncio.shield(self.connection.execute("ROLLBACK"))
                raise

    async def listen_queue(self, wake: Callable[[], None]) -> None:
        return None  # no other process to hear from (the lock file keeps them out)

    async def close(self) -> None:
        """Let SQLite refresh its planner statistics, then close the connection (idempotent)."""
        async with self._lock:
            if self._is_closed:
                return
            self._is_closed = True
            with contextlib.suppress(sqlite3.Error):
                await self.connection.execute("PRAGMA optimize")
            await self.connection.close()

    async def integrity_check(self) -> str:
        """PRAGMA integrity_check and foreign_key_check: 'ok' or one line per problem."""
        async with self.read() as session:
            problems = [str(r[0]) for r in await session.all("PRAGMA integrity_check")]
            if problems == ["ok"]:
                problems = []
            for row in await session.all("PRAGMA foreign_key_check"):
                problems.append(f"row {row[1]} of {row[0]} points to a missing {row[2]}")
        return "\n".join(problems) or "ok"

"""Reaching under a store on either backend: raw statements and injected failures.

A test of the store's guarantees (a failed transaction leaves nothing, the schema refuses a bad
row) runs on SQLite and on PostgreSQL; these helpers do the backend-specific part.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.postgresql import PostgresBackend
from bot.store.sql_store import SqlStore
from bot.store.sqlite import SqliteBackend

# What the database raises when a row breaks the schema's rules, on either backend.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)

_STALL_LOCK = 7_001  # the advisory lock a stalled PostgreSQL insert waits for


async def raw(store: SqlStore, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one statement under the store, in a transaction of its own (`?` placeholders)."""
    async with store.backend.write() as session:
        return await session.run(sql, params)


async def _sqlite_trigger(backend: SqliteBackend, table: str, when: str, body: str) -> None:
    await backend.connection.execute(
        f"CREATE TEMP TRIGGER injected AFTER INSERT ON main.{table} WHEN {when} BEGIN {body}; END"
    )


async def _postgresql_trigger(store: SqlStore, table: str, when: str, body: str) -> None:
    await raw(
        store,
        "CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {body}; RETURN NEW; END $$",
    )
    await raw(
        store,
        f"CREATE TRIGGER injected AFTER INSERT ON {table} FOR EACH ROW WHEN ({when}) "
        "EXECUTE FUNCTION injected()",
    )


async def _drop_trigger(store: SqlStore, table: str) -> None:
    backend = store.backend
    if isinstance(backend, SqliteBackend):
        await backend.connection.execute("DROP TRIGGER temp.injected")
    else:
        await raw(store, f"DROP TRIGGER injected ON {table}")
        await raw(store, "DROP FUNCTION injected()")


@contextlib.asynccontextmanager
async def failing_insert(store: SqlStore, table: str, *, when: str = "TRUE") -> AsyncIterator[None]:
    """Until the block ends, an insert into `table` (matching `when`, about NEW) fails with
    'disk on fire': a real database error at a chosen statement of a transaction."""
    backend = store.backend
    if isinstance(backend, SqliteBackend):
        await _sqlite_trigger(backend, table, when, "SELECT RAISE(ABORT, 'disk on fire')")
    else:
        await _postgresql_trigger(store, table, when, "RAISE EXCEPTION 'disk on fire'")
    try:
        yield
    finally:
        await _drop_trigger(store, table)


@contextlib.asynccontextmanager
async def stalled_insert(
    store: SqlStore, table: str, location: Path | str
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Until the block ends, an insert into `table` stalls inside its transaction (SQLite: its
    thread sleeps 0.3 s; PostgreSQL: it waits for a lock this helper holds). Yields a wait that
    returns once an insert is stalled there. `location`: what the store was opened with."""
    backend = store.backend
    if isinstance(backend, SqliteBackend):
        inside = threading.Event()

        def stall() -> int:
            inside.set()
            time.sleep(0.3)  # on the store's database thread, not the event loop
            return 0

        await backend.connection.create_function("stall", 0, stall)
        await _sqlite_trigger(backend, table, "TRUE", "SELECT stall()")

        async def wait_sqlite() -> None:
            assert await asyncio.to_thread(inside.wait, 30), "no insert reached the stall"

        try:
            yield wait_sqlite
        finally:
            await _drop_trigger(store, table)
        return
    assert isinstance(backend, PostgresBackend) and isinstance(location, str)
    holder = await asyncpg.connect(location)
    await holder.execute("SELECT pg_advisory_lock($1)", _STALL_LOCK)
    await _postgresql_trigger(store, table, "TRUE", f"PERFORM pg_advisory_xact_lock({_STALL_LOCK})")

    async def wait_postgresql() -> None:
        async def waiting() -> None:
            while not await holder.fetchval(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND objid = $1 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                _STALL_LOCK,
            ):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(waiting(), 30)

    try:
        yield wait_postgresql
    finally:
        await holder.close()  # lets the lock go
        await _drop_trigger(store, table)

"""The PostgreSQL migrations: applied once each, in order, one transaction each, under a lock
two processes share; a database newer than the code refused; every check SQLite makes, made."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.store.migrate import Migration
from bot.store.postgresql_migrate import (
    MIGRATION_LOCK,
    load_postgresql_migrations,
    migrate_postgresql,
    schema_version,
)
from bot.store.sqlite import SqliteBackend

LATEST = len(load_postgresql_migrations())


@pytest.fixture
async def conn(new_postgresql_database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(new_postgresql_database)
    yield connection
    await connection.close()


async def lock_is_free(url: str) -> bool:
    """Whether another session can take the migrations' lock now (it then lets it go)."""
    other = await asyncpg.connect(url)
    try:
        return bool(await other.fetchval("SELECT pg_try_advisory_lock($1, $2)", *MIGRATION_LOCK))
    finally:
        await other.close()


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


async def test_a_new_database_gets_every_migration_and_a_second_run_changes_nothing(
    conn: asyncpg.Connection,
) -> None:
    assert await schema_version(conn) == 0
    assert await migrate_postgresql(conn, load_postgresql_migrations()) == LATEST
    assert [tuple(r) for r in await conn.fetch("SELECT version FROM schema_version")] == [(LATEST,)]
    before = await tables(conn)
    assert {"tasks", "quota_ledger", "elements", "schema_version"} <= before

    assert await migrate_postgresql(conn, load_postgresql_migrations()) == LATEST
    assert await tables(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM schema_version") == 1


async def test_two_processes_starting_at_once_apply_each_migration_once(
    new_postgresql_database: str,
) -> None:
    first, second = [await asyncpg.connect(new_postgresql_database) for _ in range(2)]
    try:
        results = await asyncio.gather(
            migrate_postgresql(first, load_postgresql_migrations()),
            migrate_postgresql(second, load_postgresql_migrations()),
        )
        assert list(results) == [LATEST, LATEST]
        # A second CREATE TABLE tasks would have failed the run that tried it.
        assert await lock_is_free(new_postgresql_database)
    finally:
        await first.close()
        await second.close()


async def test_a_database_newer_than_the_bot_is_refused(conn: asyncpg.Connection) -> None:
    await migrate_postgresql(conn, load_postgresql_migrations())
    await conn.execute("UPDATE schema_version SET version = $1", LATEST + 5)
    with pytest.raises(RuntimeError, match=f"schema version {LATEST + 5} but this bot knows only"):
        await migrate_postgresql(conn, load_postgresql_migrations())


async def test_a_failing_migration_leaves_the_schema_before_it(
    conn: asyncpg.Connection, new_postgresql_database: str
) -> None:
    good = load_postgresql_migrations()[:2]
    broken = Migration(3, "broken", "CREATE TABLE half_done (x INTEGER); SELECT 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate_postgresql(conn, [*good, broken])
    assert await schema_version(conn) == 2
    assert "half_done" not in await tables(conn)
    assert await lock_is_free(new_postgresql_database)
    assert await migrate_postgresql(conn, load_postgresql_migrations()) == LATEST


# -- the checks ----------------------------------------------------------------------------------

TASK_COLUMNS = {
    "external_id": "'kob-{n}'",
    "origin": "'discord'",
    "guild_id": "1",
    "channel_id": "2",
    "user_id": "3",
    "request_json": "'{{}}'",
    "cost": "1",
    "state": "'queued'",
    "created_at": "'t'",
    "updated_at": "'t'",
    "queued_at": "'t'",
}


def task_insert(n: int, **changes: str) -> str:
    values = {**TASK_COLUMNS, **changes}
    columns = ", ".join(values)
    return f"INSERT INTO tasks ({columns}) VALUES ({', '.join(values.values())})".format(n=n)


ACCEPTED = [
    task_insert(1),
    task_insert(2, parent_id="1", parent_kind="'extension'"),
    task_insert(
        3,
        state="'cancelled'",
        finished_at="'t'",
        cancel_requested_at="'t'",
        cancelled_by="3",
        cancel_refund="1",
    ),
    task_insert(4, guild_id="9223372036854775807", user_name="'Ann'", held="1"),
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "VALUES (1, 3, 1, 'charge', 1, 't', 't')",
    "INSERT INTO guild_settings (guild_id, updated_at, server_unlimited) VALUES (1, 't', 1)",
    "INSERT INTO task_events (task_id, at, to_state) VALUES (1, 't', 'queued')",
]

REFUSED = [
    task_insert(10, state="'bogus'"),
    task_insert(11, cost="-1"),
    task_insert(12, origin="'rerun'"),
    task_insert(13, state="'delivered'"),
    task_insert(14, state="'processing'", held="1"),
    task_insert(15, parent_kind="'edit'"),
    task_insert(16, parent_id="1", parent_kind="'remix'"),
    task_insert(17, cancel_requested_at="'t'"),
    task_insert(18, cancel_refund="2"),
    task_insert(19, progress_pct="101"),
    task_insert(20, rerun_of="999", origin="'rerun'"),
    task_insert(1),
    "INSERT INTO guild_settings (guild_id, updated_at, default_unlimited) VALUES (2, 't', 2)",
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "VALUES (1, 3, 1, 'charge', -1, 't', 't')",
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "VALUES (1, 3, 1, 'charge', 1, 't', 't')",
    "INSERT INTO elements VALUES (1, 'a', 'A', 0, 3, 't')",
    "UPDATE quota_ledger SET credits = 0",
    "DELETE FROM task_events",
]


async def test_both_databases_accept_and_refuse_the_same_rows(
    tmp_path: Path, postgresql_url: str
) -> None:
    path = tmp_path / "checks.sqlite3"
    await (await SqliteBackend.open(path)).close()
    conn = await asyncpg.connect(postgresql_url)
    try:
        with sqlite3.connect(path, isolation_level=None) as lite:
            lite.execute("PRAGMA foreign_keys = ON")
            for sql in ACCEPTED:
                lite.execute(sql)
                await conn.execute(sql)
            for sql in REFUSED:
                with pytest.raises(sqlite3.IntegrityError):
                    lite.execute(sql)
                with pytest.raises(asyncpg.IntegrityConstraintViolationError):
                    await conn.execute(sql)
    finally:
        await conn.close()

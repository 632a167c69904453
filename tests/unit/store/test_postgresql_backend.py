"""The PostgreSQL backend: placeholders, row counts, transactions, the quota lock across
processes, the integrity check, and a password that never shows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.store.postgresql import PostgresBackend, changed_rows, numbered
from bot.store.sql_store import SqlStore
from tests.helpers.waits import HANG_GUARD_S


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"),
        ("x = '?' AND y = ?", "x = '?' AND y = $1"),
        ("x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"),
        ('"odd?name" = ?', '"odd?name" = $1'),
        ("a = ? -- why?\nAND b = ?", "a = $1 -- why?\nAND b = $2"),
        ("a = ? /* ? */ AND b = ?", "a = $1 /* ? */ AND b = $2"),
        ("json_extract(c, '$.model') = ?", "json_extract(c, '$.model') = $1"),
    ],
)
def test_placeholders_are_numbered_outside_literals_and_comments(sql: str, expected: str) -> None:
    assert numbered(sql) == expected


@pytest.mark.parametrize(
    ("status", "rows"),
    [("UPDATE 3", 3), ("INSERT 0 1", 1), ("DELETE 0", 0), ("CREATE TABLE", 0), ("SELECT 2", 2)],
)
def test_changed_rows_are_read_from_the_status(status: str, rows: int) -> None:
    assert changed_rows(status) == rows


@pytest.fixture
async def backend(postgresql_url: str) -> AsyncIterator[PostgresBackend]:
    opened = await PostgresBackend.open(postgresql_url)
    yield opened
    await opened.close()


GUILD_SQL = "INSERT INTO guild_settings (guild_id, updated_at) VALUES (?, 't')"


async def test_a_write_commits_at_the_end_and_rolls_back_on_an_error(
    backend: PostgresBackend,
) -> None:
    async with backend.write() as session:
        assert session.for_update == " FOR UPDATE"
        assert await session.run(GUILD_SQL, (1,)) == 1
    with pytest.raises(ValueError, match="on purpose"):
        async with backend.write() as session:
            await session.run(GUILD_SQL, (2,))
            raise ValueError("on purpose")
    async with backend.read() as session:
        assert session.for_update == ""
        rows = await session.all("SELECT guild_id FROM guild_settings ORDER BY guild_id")
        assert [r["guild_id"] for r in rows] == [1]
        assert await session.run("UPDATE guild_settings SET quota_window = ?", ("day",)) == 1
        row = await session.one("SELECT quota_window FROM guild_settings WHERE guild_id = ?", (1,))
        assert row is not None and row["quota_window"] == "day"
        assert await session.one("SELECT 1 WHERE 1 = ?", (2,)) is None


async def test_writes_with_one_lock_key_take_turns_across_processes(postgresql_url: str) -> None:
    # Two backends are two pools: as two bot processes on one database.
    first, second = [await PostgresBackend.open(postgresql_url) for _ in range(2)]
    order: list[str] = []
    holding, go_on = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        async with first.write(lock=42) as session:
            await session.run(GUILD_SQL, (1,))
            holding.set()
            await go_on.wait()
            order.append("first")

    async def quick() -> None:
        await holding.wait()
        async with second.write(lock=42) as session:
            order.append("second")
            row = await session.one("SELECT COUNT(*) FROM guild_settings")
            assert row is not None and row[0] == 1  # it saw the first one's commit

    try:
        tasks = [asyncio.create_task(slow()), asyncio.create_task(quick())]
        observer = await asyncpg.connect(postgresql_url)

        async def second_waits_for_the_lock() -> None:
            # PostgreSQL says the second waits: it is held up by the lock, not merely late.
            while not await observer.fetchval(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ):
                await asyncio.sleep(0.01)

        try:
            await asyncio.wait_for(second_waits_for_the_lock(), HANG_GUARD_S)
        finally:
            await observer.close()
        assert order == []
        go_on.set()
        await asyncio.gather(*tasks)
        assert order == ["first", "second"]
    finally:
        await first.close()
        await second.close()


async def test_a_password_never_shows_in_a_refusal(postgresql_server: str) -> None:
    url = "postgresql://kob:hunter2-secret@127.0.0.1:1/none"
    with pytest.raises(ConnectionError) as caught:
        await SqlStore.open(url)
    message = str(caught.value)
    assert "hunter2" not in message and caught.value.__cause__ is None
    assert message.startswith("could not open the database at postgresql://kob:***@127.0.0.1:1")


async def test_the_store_opens_a_url_and_says_where_without_the_password(
    postgresql_url: str,
) -> None:
    async with await SqlStore.open(postgresql_url) as store:
        assert isinstance(store.backend, PostgresBackend)
        assert await store.integrity_check() == "ok"
        await store.ping()


async def test_the_integrity_check_names_a_broken_index_and_an_unchecked_constraint(
    backend: PostgresBackend, postgresql_url: str
) -> None:
    conn = await asyncpg.connect(postgresql_url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        assert await backend.integrity_check() == "ok"  # amcheck looked at every index
        await conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'tasks_by_guild'::regclass"
        )
        await conn.execute("ALTER TABLE elements ADD CONSTRAINT named CHECK (name <> '') NOT VALID")
        report = (await backend.integrity_check()).splitlines()
        assert report == [
            "index tasks_by_guild is not valid: rebuild it with REINDEX INDEX tasks_by_guild",
            "constraint named of elements was never checked against the rows stored (NOT VALID):"
            " ALTER TABLE elements VALIDATE CONSTRAINT named",
        ]
    finally:
        await conn.execute("REINDEX INDEX tasks_by_guild")
        await conn.execute("ALTER TABLE elements DROP CONSTRAINT IF EXISTS named")
        await conn.execute("DROP EXTENSION IF EXISTS amcheck")
        await conn.close()

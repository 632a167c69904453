"""Fixtures every test folder may use: a PostgreSQL database of the session's own.

Without KLING_BOT_TEST_DATABASE_URL the PostgreSQL fixtures skip their test with the reason
(`-ra` prints it), so the SQLite half of the suite runs anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.store.postgresql_migrate import load_postgresql_migrations, migrate_postgresql
from tests.helpers.postgresql import (
    SKIP_REASON,
    connect,
    create_database,
    drop_database,
    empty_tables,
    new_database_name,
    run_apart,
    server_url,
    with_database,
)


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """The URL of the test server (its own database, which the tests only connect to)."""
    url = server_url()
    if url is None:
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture(scope="session")
def postgresql_session_database(postgresql_server: str) -> Iterator[str]:
    """A database for this test session, at the latest schema; dropped at the end."""
    name = new_database_name()

    async def create() -> None:
        await create_database(postgresql_server, name)
        conn = await connect(with_database(postgresql_server, name))
        try:
            await migrate_postgresql(conn, load_postgresql_migrations())
        finally:
            await conn.close()

    run_apart(create)
    try:
        yield with_database(postgresql_server, name)
    finally:
        run_apart(lambda: drop_database(postgresql_server, name))


@pytest.fixture
async def postgresql_url(postgresql_session_database: str) -> str:
    """The session's database with every table empty (the schema migrated): one test's store."""
    await empty_tables(postgresql_session_database)
    return postgresql_session_database


@pytest.fixture
async def new_postgresql_database(postgresql_server: str) -> AsyncIterator[str]:
    """A database with nothing in it, not even a schema (for the migrations); dropped after."""
    name = new_database_name("kob_empty")
    await create_database(postgresql_server, name)
    try:
        yield with_database(postgresql_server, name)
    finally:
        await drop_database(postgresql_server, name)

"""Fixtures every test folder may use: a PostgreSQL database of the session's own, and a
`store` on SQLite and on PostgreSQL.

Without KLING_BOT_TEST_DATABASE_URL the PostgreSQL fixtures skip their test with the reason
(`-ra` prints it), so the SQLite half of the suite runs anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store.postgresql_migrate import load_postgresql_migrations, migrate_postgresql
from bot.store.sql_store import SqlStore
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
def postgresql_url(postgresql_session_database: str) -> str:
    """The session's database with every table empty (the schema migrated): one test's store."""
    run_apart(lambda: empty_tables(postgresql_session_database))
    return postgresql_session_database


# -- the store on either backend -----------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using `store` (or `store_location`) runs once per backend, unless marked
    `sqlite_only` (it looks at SQLite's own files or pragmas)."""
    if "store_location" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = BACKENDS[:1] if only_sqlite else BACKENDS
        metafunc.parametrize("store_location", backends, indirect=True)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives (a module may put it elsewhere)."""
    return tmp_path / "store.sqlite3"


@pytest.fixture
def store_location(request: pytest.FixtureRequest, db_path: Path) -> Path | str:
    """What `storage.database` would say for this test's backend: a path, or a URL to an empty
    PostgreSQL database (skipped, saying why, without KLING_BOT_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        return db_path
    url: str = request.getfixturevalue("postgresql_url")
    return url


@pytest.fixture
async def store(store_location: Path | str) -> AsyncIterator[SqlStore]:
    """An open, empty store on the test's backend."""
    opened = await SqlStore.open(store_location)
    yield opened
    await opened.close()


@pytest.fixture
async def new_postgresql_database(postgresql_server: str) -> AsyncIterator[str]:
    """A database with nothing in it, not even a schema (for the migrations); dropped after."""
    name = new_database_name("kob_empty")
    await create_database(postgresql_server, name)
    try:
        yield with_database(postgresql_server, name)
    finally:
        await drop_database(postgresql_server, name)

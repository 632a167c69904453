"""A PostgreSQL server for the tests: a database of their own, created and dropped around them.

`KLING_BOT_TEST_DATABASE_URL` names a server and a database the tests may connect to (CI:
`postgresql://postgres@127.0.0.1:5432/test`); the tests never write to that database, only
create their own beside it. Without the variable the PostgreSQL tests are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.domain.credentials import mask_passwords

ENV = "KLING_BOT_TEST_DATABASE_URL"
T = TypeVar("T")

SKIP_REASON = (
    f"{ENV} is not set: the PostgreSQL tests need a server "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test)"
)


def server_url() -> str | None:
    """The URL the tests were given, or None."""
    return os.environ.get(ENV) or None


def with_database(url: str, name: str) -> str:
    """`url` naming the database `name` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def new_database_name(prefix: str = "kob_test") -> str:
    """A name no other test session uses (lower case, so it needs no quoting)."""
    return f"{prefix}_{secrets.token_hex(6)}"


def run_apart(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a loop of its own, in a thread of its own: session fixtures
    run outside any test's loop, and must not disturb the loop pytest-asyncio keeps."""
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, name="postgresql-fixture")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def connect(url: str) -> asyncpg.Connection:
    """A plain connection; a server that does not answer fails with the URL, password masked."""
    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"could not connect to the test server {mask_passwords(url)} ({ENV}): {exc}"
        ) from None


async def create_database(url: str, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE `name` on the server of `url` (from `template` if given)."""
    conn = await connect(url)
    try:
        copy = f" TEMPLATE {template}" if template else ""
        await conn.execute(f"CREATE DATABASE {name}{copy}")
    finally:
        await conn.close()


async def drop_database(url: str, name: str) -> None:
    """DROP DATABASE `name`, closing whatever connection a test left open on it."""
    conn = await connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


async def empty_tables(url: str) -> None:
    """Every table of the database at `url` emptied and its ids counting from 1 again; the
    schema (and its version) stays. A connection another test left open is closed first, so its
    locks cannot hold this one up."""
    conn = await connect(url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'schema_version'"
        )
        if tables:
            names = ", ".join(row["name"] for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()

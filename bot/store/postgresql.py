"""The PostgreSQL backend: a pool of asyncpg connections, for one or several bot processes.

The store's SQL is written once with `?` placeholders; this backend numbers them (`$1, $2…`,
once per statement text) and runs them with asyncpg. A write is one transaction on one pooled
connection; its compare-and-set reads lock their row (`FOR UPDATE`), and a write given a `lock`
key (a server's id: a quota's read-then-charge) first takes a transaction advisory lock on it,
so two processes charging one server take turns. The URL's password never reaches a log line or
an exception: every message shows the URL masked.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.domain.credentials import mask_passwords
from bot.store.postgresql_migrate import (
    Connection,
    load_postgresql_migrations,
    migrate_postgresql,
    schema_version,
)
from bot.store.sql import POSTGRESQL, QUEUE_CHANNEL, Row

log = logging.getLogger(__name__)

APPLICATION_NAME = "kling-bot"  # what pg_stat_activity shows for the bot's connections
WARM_CONNECTIONS = 4  # connections opened at start (the pool grows to max_connections)


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`sql` with each `?` placeholder written `$1`, `$2`… as PostgreSQL takes them; a `?` in a
    string literal, a quoted name or a comment is left alone."""
    out: list[str] = []
    number = 0
    i, end = 0, len(sql)
    while i < end:
        char = sql[i]
        if char in "'\"":  # a literal or a quoted name, to its closing quote ('' stays inside)
            close = sql.find(char, i + 1)
            close = end - 1 if close < 0 else close
            out.append(sql[i : close + 1])
            i = close + 1
        elif sql.startswith("--", i):
            close = sql.find("\n", i)
            close = end if close < 0 else close
            out.append(sql[i:close])
            i = close
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            close = end if close < 0 else close + 2
            out.append(sql[i:close])
            i = close
        elif char == "?":
            number += 1
            out.append(f"${number}")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def changed_rows(status: str) -> int:
    """How many rows a statement changed, from asyncpg's status ('UPDATE 3', 'INSERT 0 1')."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresSession:
    """Statements on one pooled connection (in a transaction when it came from `write`)."""

    def __init__(self, conn: Connection, *, for_update: str) -> None:
        self._conn = conn
        self.for_update = for_update
        # Rows another process is claiming right now are left to it, not waited for.
        self.skip_locked = " FOR UPDATE SKIP LOCKED" if for_update else ""

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self._conn.fetchrow(numbered(sql), *params)
        return row

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._conn.fetch(numbered(sql), *params))

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return changed_rows(await self._conn.execute(numbered(sql), *params))

    async def notify_queue(self) -> None:
        # Sent when the transaction commits (and not at all if it rolls back).
        await self._conn.execute("SELECT pg_notify($1, '')", QUEUE_CHANNEL)


class PostgresBackend:
    """A PostgreSQL database with an up-to-date schema; use `await PostgresBackend.open(url)`."""

    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._where = mask_passwords(url)
        self._listener: Connection | None = None

    @property
    def where(self) -> str:
        """Where the data is, for messages (the password masked)."""
        return self._where

    @classmethod
    async def open(cls, url: str, *, max_connections: int = 10) -> Self:
        """Connect to the database at `url` (postgresql://user:password@host:port/database),
        bring its schema up to date, and keep a pool of up to `max_connections` connections."""
        where = mask_passwords(url)
        settings = {"application_name": APPLICATION_NAME}
        try:
            # The migrations run on a connection of their own: closing it lets their lock go
            # whatever happened.
            conn = await asyncpg.connect(url, server_settings=settings)
            try:
                await migrate_postgresql(conn, load_postgresql_migrations())
            finally:
                await conn.close()
            pool = await asyncpg.create_pool(
                url,
                # Open a few at start: the first burst of commands should not wait for logins.
                min_size=min(WARM_CONNECTIONS, max_connections),
                max_size=max_connections,
                server_settings=settings,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            reason = _without(str(exc) or type(exc).__name__, url)
            raise ConnectionError(f"could not open the database at {where}: {reason}") from None
        log.info("PostgreSQL database at %s is open", where)
        return cls(pool, url)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[PostgresSession]:
        async with self._pool.acquire() as conn:
            yield PostgresSession(conn, for_update="")

    @contextlib.asynccontextmanager
    async def write(self, *, lock: int | None = None) -> AsyncIterator[PostgresSession]:
        async with self._pool.acquire() as conn, conn.transaction():
            if lock is not None:
                # Let go at the commit or rollback; waits while another transaction holds it.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
            yield PostgresSession(conn, for_update=" FOR UPDATE")

    async def listen_queue(self, wake: Callable[[], None]) -> None:
        """LISTEN on a connection of its own (outside the pool: it stays subscribed) and call
        `wake` for every NOTIFY of the queue's channel."""
        if self._listener is None:
            self._listener = await asyncpg.connect(
                self._url, server_settings={"application_name": f"{APPLICATION_NAME} listener"}
            )

        def heard(conn: object, pid: int, channel: str, payload: object) -> None:
            wake()

        await self._listener.add_listener(QUEUE_CHANNEL, heard)

    async def close(self) -> None:
        """Close every pooled connection, after the ones in use are given back (idempotent)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        if not self._pool.is_closing():
            await self._pool.close()

    async def integrity_check(self) -> str:
        """'ok', or one line per problem: an index PostgreSQL does not use because it is broken
        or half-built, a constraint never checked against the stored rows, a schema version
        other than this bot's, and (when the `amcheck` extension is installed) a damaged index."""
        latest = len(load_postgresql_migrations())
        async with self._pool.acquire() as conn:
            problems = [
                f"index {r['name']} is not valid: rebuild it with REINDEX INDEX {r['name']}"
                for r in await conn.fetch(_INVALID_INDEXES)
            ]
            problems += [
                f"constraint {r['name']} of {r['table']} was never checked against the rows "
                f"stored (NOT VALID): ALTER TABLE {r['table']} VALIDATE CONSTRAINT {r['name']}"
                for r in await conn.fetch(_UNCHECKED_CONSTRAINTS)
            ]
            version = await schema_version(conn)
            if version != latest:
                problems.append(f"the schema is at version {version}; this bot's is {latest}")
            if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'"):
                problems += await _damaged_indexes(conn)
        return "\n".join(problems) or "ok"


_OWN_INDEXES = (
    "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace"
)
_INVALID_INDEXES = (
    f"SELECT c.relname AS name {_OWN_INDEXES} AND NOT (x.indisvalid AND x.indisready)"
)
_UNCHECKED_CONSTRAINTS = (
    "SELECT conname AS name, conrelid::regclass::text AS table FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace AND NOT convalidated"
)


async def _damaged_indexes(conn: Connection) -> list[str]:
    """amcheck's verdict on each valid B-tree index of the bot's tables."""
    problems = []
    btrees = await conn.fetch(
        f"SELECT c.relname AS name, c.oid AS oid {_OWN_INDEXES} AND x.indisvalid "
        "AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') ORDER BY c.relname"
    )
    for index in btrees:
        try:
            await conn.execute("SELECT bt_index_check($1::oid::regclass)", index["oid"])
        except asyncpg.PostgresError as exc:
            problems.append(f"index {index['name']} is damaged: {exc}")
    return problems


def _without(text: str, url: str) -> str:
    """`text` with the URL's password masked, should a driver's message ever quote it."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed URL: the pattern below still masks `user:…@`
        password = None
    for secret in filter(None, (password, password and unquote(password))):
        text = text.replace(secret, "***")
    return mask_passwords(text)

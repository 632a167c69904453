"""The PostgreSQL schema migrations: `bot/store/migrations_postgresql/NNNN_name.sql`, in order.

The counterpart of `migrate.py` (SQLite). PostgreSQL has no `user_version`: a one-row table
`schema_version` holds the number of the last migration applied. Each migration runs in its own
transaction together with the new number, so a crash leaves the schema before or after it. The
whole run holds a session advisory lock: two bot processes starting at once on a new database
take turns, and the second finds the work done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.store.migrate import Migration, load_migrations, pending

log = logging.getLogger(__name__)

FOLDER = "migrations_postgresql"

# The key of pg_advisory_lock for the migrations, held per session (a process that dies mid-run
# lets it go). Two 32-bit keys ('kob' in ASCII, 1): PostgreSQL keeps them apart from the 64-bit
# keys the store locks servers' quotas with, so no server id can ever collide with it.
MIGRATION_LOCK = (0x6B6F62, 1)

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version  INTEGER NOT NULL CHECK (version >= 0)
);
INSERT INTO schema_version (only_row, version) VALUES (TRUE, 0) ON CONFLICT DO NOTHING;
"""


# A connection of its own, or one lent by a pool.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


def load_postgresql_migrations() -> list[Migration]:
    """The packaged PostgreSQL migrations, in order (numbered and named as SQLite's)."""
    return load_migrations(folder=FOLDER)


async def schema_version(conn: Connection) -> int:
    """The number of the last migration applied to this database (0 for a new one)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT version FROM schema_version")
    return int(version) if version is not None else 0


async def migrate_postgresql(conn: Connection, migrations: Sequence[Migration]) -> int:
    """Apply every migration newer than the database; returns the resulting schema version.

    `conn` must not be inside a transaction. The advisory lock is released at the end (and by
    PostgreSQL if the connection drops).
    """
    await conn.execute("SELECT pg_advisory_lock($1, $2)", *MIGRATION_LOCK)
    try:
        # Under the lock: another process may have created the table or migrated meanwhile.
        await conn.execute(_CREATE_VERSION_TABLE)
        version = await schema_version(conn)
        for migration in pending(migrations, version):
            async with conn.transaction():
                # One script, several statements: sent as a simple query (no parameters), which
                # PostgreSQL runs statement by statement, plpgsql bodies included.
                await conn.execute(migration.sql)
                await conn.execute("UPDATE schema_version SET version = $1", migration.version)
            version = migration.version
            log.info("applied PostgreSQL migration %04d_%s", migration.version, migration.name)
    finally:
        # After a failure the connection may be unusable: closing it lets the lock go too.
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", *MIGRATION_LOCK)
    return version

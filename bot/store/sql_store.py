"""`SqlStore`: the `TaskStore` the bot runs on, one class assembled from its parts.

Each part holds one topic's SQL (`tasks.py` writes, with `moves.py` the move itself;
`task_messages.py` a task's messages, `task_reads.py` queries, `quotas.py` the ledger,
`elements.py` the library, `leases.py` which process works on which task) and runs it on the
backend it is given (`sqlite.py` or `postgresql.py`): the database is an object the store holds,
not a base class, and the parts share nothing else.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from bot.store import TaskStore
from bot.store.elements import ElementLibrary
from bot.store.leases import TaskLeases
from bot.store.quotas import QuotaBook
from bot.store.sql import Backend
from bot.store.sqlite import SqliteBackend
from bot.store.task_messages import TaskMessages
from bot.store.task_reads import TaskReads
from bot.store.tasks import TaskWrites

# The schemes `storage.database` may use for PostgreSQL (asyncpg and libpq accept both).
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(location: str | Path) -> bool:
    """Whether `storage.database` names a PostgreSQL server rather than an SQLite file."""
    return isinstance(location, str) and location.startswith(POSTGRESQL_SCHEMES)


class SqlStore(TaskWrites, TaskMessages, TaskReads, QuotaBook, ElementLibrary, TaskLeases):
    """`TaskStore` on SQLite (a path) or PostgreSQL (a URL): `await SqlStore.open(location)`."""

    def __init__(self, backend: Backend) -> None:
        self._sql = backend

    @classmethod
    async def open(cls, location: str | Path) -> Self:
        """Open the database `storage.database` names, bringing its schema up to date.

        A `postgresql://` URL opens PostgreSQL; any other URL is refused; anything else is a path
        to an SQLite file (created if needed).
        """
        if is_postgresql(location):
            from bot.store.postgresql import PostgresBackend  # asyncpg only when it is used

            return cls(await PostgresBackend.open(str(location)))
        if isinstance(location, str) and "://" in location:
            scheme = location.split("://", 1)[0]
            raise ValueError(
                f"storage.database: '{scheme}://' is not a database this bot can use; give a "
                "file path (SQLite) or a postgresql://user:password@host:port/database URL"
            )
        return cls(await SqliteBackend.open(Path(location)))

    @property
    def shared(self) -> bool:
        """Whether other bot processes may work on this database at the same time."""
        return self._sql.dialect.name == "postgresql"

    @property
    def backend(self) -> Backend:
        """The database under the store (tests and `kling-bot db` reach for it)."""
        return self._sql

    async def close(self) -> None:
        """Close the database (idempotent)."""
        await self._sql.close()

    async def integrity_check(self) -> str:
        """'ok', or one line per problem the database finds in itself."""
        return await self._sql.integrity_check()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _implements(store: SqlStore) -> TaskStore:
    return store  # mypy checks here that SqlStore has every operation of TaskStore

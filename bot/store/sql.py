"""What the store asks of a database: sessions that run SQL, transactions, a few dialect words.

The store's SQL is written once, with `?` placeholders, in the subset SQLite and PostgreSQL share
(`INSERT … ON CONFLICT`, `RETURNING`); a backend (`sqlite.py`, `postgresql.py`) runs it and
supplies the few words that differ (`Dialect`). Times are fixed-width ISO-8601 UTC text in both
backends, so text order is time order and the same comparisons work everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


class Row(Protocol):
    """A result row, by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: str | int, /) -> Any: ...
    def keys(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Session(Protocol):
    """Statements on one connection: inside a transaction when it came from `Backend.write`."""

    # In a write session of a backend with row locks (PostgreSQL): " FOR UPDATE", appended to
    # the read that a read-modify-write starts with. SQLite locks the whole database instead.
    for_update: str

    # Appended to a SELECT that picks rows to claim: PostgreSQL's " FOR UPDATE SKIP LOCKED" (rows
    # another process is claiming right now are left to it); nothing on SQLite.
    skip_locked: str

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; how many rows it changed."""
        ...

    async def notify_queue(self) -> None:
        """Tell the other processes on this database, when the transaction commits, that the
        queue or the API's free slots changed (PostgreSQL's NOTIFY; nothing on SQLite)."""
        ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The words of SQL that differ between the backends."""

    name: str
    # `a IS b` that is also true when both are NULL.
    same: str = "IS"

    def json_field(self, column: str, key: str, *, integer: bool = False) -> str:
        """One top-level field of a JSON text column, as text (or as an integer)."""
        if self.name == "postgresql":
            field = f"({column}::jsonb ->> '{key}')"
            return f"({field}::bigint)" if integer else field
        return f"json_extract({column}, '$.{key}')"


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql", same="IS NOT DISTINCT FROM")
# The channel of `Session.notify_queue`.
QUEUE_CHANNEL = "kling_bot_queue"


class Backend(Protocol):
    """One database the store runs on."""

    dialect: Dialect

    def read(self) -> AbstractAsyncContextManager[Session]:
        """A session for reads (each statement sees committed data)."""
        ...

    def write(self, *, lock: int | None = None) -> AbstractAsyncContextManager[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        `lock`: a key (a server's id) whose transactions must run one at a time, across
        processes too: a quota's read-then-charge. SQLite runs every write transaction one at a
        time anyway; PostgreSQL takes an advisory lock on the key.
        """
        ...

    async def listen_queue(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process says the queue changed (see `notify_queue`)."""
        ...

    async def close(self) -> None: ...
    async def integrity_check(self) -> str:
        """'ok', or one line per problem found."""
        ...


async def count(session: Session, sql: str, params: Sequence[Any] = ()) -> int:
    """The integer in the first column of the first row (0 when there is none)."""
    row = await session.one(sql, params)
    return int(row[0]) if row is not None and row[0] is not None else 0


def placeholders(items: Sequence[object]) -> str:
    """`?, ?, ?`: one placeholder per item."""
    return ", ".join("?" * len(items))


def to_db_time(moment: datetime) -> str:
    """A UTC datetime as fixed-width ISO text ('2025-01-31T23:59:59.123456Z'): text order is time
    order, so indexes and window sums compare it as text; it round-trips to the microsecond."""
    if moment.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware (UTC), not naive: {moment!r}")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_db_time(text: str) -> datetime:
    """The aware UTC datetime stored by `to_db_time` (the trailing Z makes it aware)."""
    return datetime.fromisoformat(text)


def from_db_time_or_none(text: str | None) -> datetime | None:
    """`from_db_time` for a nullable column."""
    return None if text is None else datetime.fromisoformat(text)

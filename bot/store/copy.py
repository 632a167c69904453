"""`kling-bot db copy --to postgresql://…`: an SQLite database, every row, into an empty PostgreSQL
database; the move from one bot process to several.

The target's schema is brought up to date by the PostgreSQL backend's migrations; the source's by
SQLite's, so both have the same tables and columns. The copy is one PostgreSQL transaction: the
tables are locked against writers and must be empty, the rows go in by COPY in batches (a
table is never held in memory whole) keeping their ids, the identity sequences are set past the
copied ids (and past SQLite's AUTOINCREMENT counter: an id is never handed out twice), and then
every row is read back and compared with the source, in key order. Anything amiss rolls it all
back: the target is either a full, checked copy or still empty.

Kept media are paths in the rows (`result_path`); they stay right when `storage.media_dir` stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from bot.domain.credentials import mask_passwords
from bot.domain.errors import KlingBotError
from bot.store.postgresql import PostgresBackend
from bot.store.postgresql_migrate import Connection
from bot.store.sqlite import SqliteBackend

BATCH_ROWS = 1000
# Copied first: every other table's rows point at tasks.
FIRST_TABLE = "tasks"
# Kept by the migration runner of each backend, not data.
_BOOKKEEPING = {"schema_version", "sqlite_sequence"}


class CopyError(KlingBotError):
    """The copy was refused or failed (and nothing was kept); the sentence says why."""


@dataclass(frozen=True, slots=True)
class TableCopied:
    """One table copied and checked: how many rows."""

    table: str
    rows: int


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    order_by_sqlite: str
    order_by_postgresql: str


async def copy_to_postgresql(
    source: Path, url: str, *, batch_rows: int = BATCH_ROWS
) -> list[TableCopied]:
    """Copy the SQLite database at `source` into the empty PostgreSQL database at `url`, check
    every row, and commit; raise `CopyError` (the target left as it was) otherwise."""
    where = mask_passwords(url)
    if not await asyncio.to_thread(source.is_file):
        raise CopyError(f"There is no database at {source} (storage.database) to copy.")
    await _bring_up_to_date(source, url)
    target = await _connect(url, where)
    try:
        async with _read_only(source) as reader:
            tables = await _tables(reader, target)
            try:
                async with target.transaction():
                    return await _copy_all(reader, target, tables, where, batch_rows)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise CopyError(
                    f"PostgreSQL at {where} refused the copy, so nothing was kept: "
                    f"{mask_passwords(str(exc))}"
                ) from None
    finally:
        await target.close()


async def _bring_up_to_date(source: Path, url: str) -> None:
    """Both schemas at this bot's latest version, by each backend's own migrations."""
    try:
        await (await SqliteBackend.open(source)).close()
    except sqlite3.DatabaseError as exc:
        raise CopyError(f"{source} can't be read as a kling-bot database: {exc}.") from None
    try:
        await (await PostgresBackend.open(url)).close()
    except ConnectionError as exc:  # the backend's message has the password masked
        raise CopyError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None


async def _connect(url: str, where: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CopyError(
            f"Could not connect to {where}: {mask_passwords(str(exc) or type(exc).__name__)}"
        ) from None


@contextlib.asynccontextmanager
async def _read_only(source: Path) -> AsyncIterator[aiosqlite.Connection]:
    """The source, read-only, in one read transaction: every table from one snapshot."""
    uri = (await asyncio.to_thread(source.resolve)).as_uri()
    async with aiosqlite.connect(f"{uri}?mode=ro", uri=True, isolation_level=None) as reader:
        await reader.execute("BEGIN")
        try:
            yield reader
        finally:
            await reader.execute("COMMIT")


async def _tables(reader: aiosqlite.Connection, target: Connection) -> list[_Table]:
    """The tables both databases have, with their columns; refuses schemas that differ."""
    names = [
        str(row[0])
        for row in await reader.execute_fetchall(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if row[0] not in _BOOKKEEPING
    ]
    theirs = {
        str(row["table_name"]): row
        for row in await target.fetch(
            "SELECT table_name, array_agg(column_name::text) AS columns, "
            "array_agg(column_name::text) FILTER (WHERE data_type = 'text') AS text_columns "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "GROUP BY table_name"
        )
        if row["table_name"] not in _BOOKKEEPING
    }
    if set(names) != set(theirs):
        raise CopyError(
            "The two databases have different tables (SQLite: "
            f"{', '.join(sorted(names))}; PostgreSQL: {', '.join(sorted(theirs))}): are both "
            "written by this version of kling-bot?"
        )
    tables = []
    for name in sorted(names, key=lambda n: (n != FIRST_TABLE, n)):
        info = await reader.execute_fetchall(f'PRAGMA table_info("{name}")')
        columns = tuple(str(row[1]) for row in info)
        if set(columns) != set(theirs[name]["columns"]):
            raise CopyError(
                f"{name} has other columns in PostgreSQL than in SQLite: are both written by "
                "this version of kling-bot?"
            )
        keys = [str(row[1]) for row in sorted(info, key=lambda r: r[5]) if row[5]] or columns
        text = set(theirs[name]["text_columns"] or ())
        tables.append(
            _Table(
                name,
                columns,
                ", ".join(f'"{key}"' for key in keys),
                # Text keys in byte order, as SQLite sorts them: the rows meet in one order.
                ", ".join(f'"{key}" COLLATE "C"' if key in text else f'"{key}"' for key in keys),
            )
        )
    return tables


async def _copy_all(
    reader: aiosqlite.Connection,
    target: Connection,
    tables: Sequence[_Table],
    where: str,
    batch_rows: int,
) -> list[TableCopied]:
    listed = ", ".join(f'"{table.name}"' for table in tables)
    # Writers wait until the copy is committed; a bot started early can't slip a row in.
    await target.execute(f"LOCK TABLE {listed} IN EXCLUSIVE MODE")
    filled = []
    for table in tables:
        count = int(await target.fetchval(f'SELECT count(*) FROM "{table.name}"'))
        if count:
            filled.append(f"{table.name}: {count}")
    if filled:
        raise CopyError(
            f"The database at {where} is not empty ({'; '.join(filled)} rows), so nothing was "
            "copied: db copy fills only a new, empty database. Create one (createdb, or CREATE "
            "DATABASE) and give its URL."
        )
    counts = []
    for table in tables:
        rows = 0
        async for batch in _batches(reader, table, batch_rows):
            await target.copy_records_to_table(table.name, records=batch, columns=table.columns)
            rows += len(batch)
        counts.append(TableCopied(table.name, rows))
    await _set_sequences(reader, target)
    for table in tables:
        await _compare(reader, target, table, batch_rows)
    return counts


async def _batches(
    reader: aiosqlite.Connection, table: _Table, batch_rows: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The source table's rows in key order, `batch_rows` at a time."""
    columns = ", ".join(f'"{column}"' for column in table.columns)
    sql = f'SELECT {columns} FROM "{table.name}" ORDER BY {table.order_by_sqlite}'
    async with reader.execute(sql) as cursor:
        while batch := await cursor.fetchmany(batch_rows):
            yield [tuple(row) for row in batch]


async def _set_sequences(reader: aiosqlite.Connection, target: Connection) -> None:
    """Each identity column's next id past the copied ids and past SQLite's own counter."""
    counters = {
        str(row[0]): int(row[1])
        for row in await reader.execute_fetchall("SELECT name, seq FROM sqlite_sequence")
    }
    identities = await target.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for row in identities:
        table, column = str(row["table_name"]), str(row["column_name"])
        copied = await target.fetchval(f'SELECT max("{column}") FROM "{table}"')
        last = max(int(copied or 0), counters.get(table, 0))
        # is_called false: the next id is `1` itself when nothing was ever handed out.
        await target.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
            f'"{table}"',
            column,
            max(last, 1),
            last > 0,
        )


async def _compare(
    reader: aiosqlite.Connection, target: Connection, table: _Table, batch_rows: int
) -> None:
    """Every row of the target equals the source's, column by column, in key order."""
    columns = ", ".join(f'"{column}"' for column in table.columns)
    cursor = await target.cursor(
        f'SELECT {columns} FROM "{table.name}" ORDER BY {table.order_by_postgresql}'
    )
    position = 0
    async for batch in _batches(reader, table, batch_rows):
        copied = [tuple(record) for record in await cursor.fetch(len(batch))]
        for offset, (mine, theirs) in enumerate(zip(batch, copied, strict=False)):
            if mine != theirs:
                wrong = [c for c, a, b in zip(table.columns, mine, theirs, strict=True) if a != b]
                raise CopyError(
                    f"Row {position + offset + 1} of {table.name} differs after the copy (in "
                    f"{', '.join(wrong)}), so nothing was kept."
                )
        if len(copied) != len(batch):
            raise CopyError(f"{table.name} has fewer rows after the copy, so nothing was kept.")
        position += len(batch)
    if await cursor.fetchrow() is not None:
        raise CopyError(f"{table.name} has more rows after the copy, so nothing was kept.")

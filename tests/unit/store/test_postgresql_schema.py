"""The PostgreSQL schema after every migration is SQLite's: the same tables, the same columns in
the same order with compatible types, nullability and defaults, the same keys, indexes (by name,
columns, uniqueness and predicate), triggers and checks. A migration added to one folder only, or
translated loosely, fails here."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from bot.store.migrate import load_migrations
from bot.store.postgresql_migrate import load_postgresql_migrations
from bot.store.sqlite import SqliteBackend


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # 'integer', 'bigint' or 'text' (SQLite: 'integer' or 'text')
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    unique: bool
    predicate: str | None


@dataclass
class Schema:
    columns: dict[str, list[Column]] = field(default_factory=dict)
    primary_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unique_keys: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)
    foreign_keys: set[tuple[str, str, str, str]] = field(default_factory=set)
    indexes: dict[str, Index] = field(default_factory=dict)
    triggers: set[tuple[str, str]] = field(default_factory=set)


def _predicate(text: str | None) -> str | None:
    """An index's WHERE as both databases can be compared: lower case, no brackets or casts."""
    if text is None:
        return None
    return " ".join(re.sub(r"::\w+|[()]", " ", text).lower().split())


def _default(text: str | None) -> str | None:
    return None if text is None else re.sub(r"::\w+$", "", text)


def sqlite_schema(path: Path) -> Schema:
    schema = Schema()
    with sqlite3.connect(path) as db:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            info = db.execute(f"PRAGMA table_info({table})").fetchall()
            # A PRIMARY KEY column is NOT NULL in PostgreSQL whatever it declares.
            schema.columns[table] = [
                Column(name, kind.lower(), bool(notnull or pk), dflt)
                for _, name, kind, notnull, dflt, pk in info
            ]
            keys = sorted((pk, name) for _, name, _, _, _, pk in info if pk)
            schema.primary_keys[table] = tuple(name for _, name in keys)
            for _, name, unique, origin, _ in db.execute(f"PRAGMA index_list({table})"):
                columns = tuple(r[2] for r in db.execute(f"PRAGMA index_info({name})"))
                if origin == "u":
                    schema.unique_keys.add((table, columns))
                elif origin == "c":
                    sql = db.execute(
                        "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", (name,)
                    ).fetchone()[0]
                    where = sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None
                    schema.indexes[name] = Index(table, columns, bool(unique), _predicate(where))
            for row in db.execute(f"PRAGMA foreign_key_list({table})"):
                schema.foreign_keys.add((table, row[3], row[2], row[4]))
        schema.triggers = set(
            db.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger'")
        )
    return schema


async def postgresql_schema(conn: asyncpg.Connection) -> Schema:
    schema = Schema()
    for row in await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name <> 'schema_version' ORDER BY table_name, ordinal_position"
    ):
        schema.columns.setdefault(row["table_name"], []).append(
            Column(
                row["column_name"],
                row["data_type"],
                row["is_nullable"] == "NO",
                _default(row["column_default"]),
            )
        )
    constraints = await conn.fetch(
        "SELECT c.contype::text AS contype, t.relname AS table, f.relname AS target, "
        "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) "
        "  AS columns, "
        "ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) "
        "  AS target_columns "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "LEFT JOIN pg_class f ON f.oid = c.confrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = 'public' AND t.relname <> 'schema_version'"
    )
    for row in constraints:
        table, columns = row["table"], tuple(row["columns"])
        if row["contype"] == "p":
            schema.primary_keys[table] = columns
        elif row["contype"] == "u":
            schema.unique_keys.add((table, columns))
        elif row["contype"] == "f":
            schema.foreign_keys.add((table, columns[0], row["target"], row["target_columns"][0]))
    for table in schema.columns:
        schema.primary_keys.setdefault(table, ())
    for row in await conn.fetch(
        "SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique, "
        "pg_get_expr(x.indpred, x.indrelid) AS predicate, "
        "ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.i) "
        "  AS columns "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
    ):
        schema.indexes[row["name"]] = Index(
            row["table"], tuple(row["columns"]), row["unique"], _predicate(row["predicate"])
        )
    schema.triggers = {
        (r["trigger_name"], r["event_object_table"])
        for r in await conn.fetch(
            "SELECT DISTINCT trigger_name, event_object_table FROM information_schema.triggers "
            "WHERE trigger_schema = 'public'"
        )
    }
    return schema


def _type_fits(sqlite_column: Column, postgresql_type: str) -> bool:
    """INTEGER: BIGINT for ids (row ids, Discord snowflakes), INTEGER or BIGINT for counts."""
    if sqlite_column.type == "text":
        return postgresql_type == "text"
    name = sqlite_column.name
    if name == "id" or name.endswith(("_id", "_by")) or name == "rerun_of":
        return postgresql_type == "bigint"
    return postgresql_type in ("integer", "bigint")


@pytest.fixture
async def both(tmp_path: Path, postgresql_url: str) -> tuple[Schema, Schema]:
    db = await SqliteBackend.open(tmp_path / "schema.sqlite3")
    await db.close()
    conn = await asyncpg.connect(postgresql_url)
    try:
        return sqlite_schema(tmp_path / "schema.sqlite3"), await postgresql_schema(conn)
    finally:
        await conn.close()


def test_the_two_folders_hold_the_same_migrations() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations()]
    assert [(m.version, m.name) for m in load_postgresql_migrations()] == sqlite


async def test_same_tables_with_the_same_columns_in_the_same_order(
    both: tuple[Schema, Schema],
) -> None:
    sqlite, postgresql = both
    assert sorted(postgresql.columns) == sorted(sqlite.columns)
    for table, columns in sqlite.columns.items():
        theirs = postgresql.columns[table]
        assert [c.name for c in theirs] == [c.name for c in columns], table
        for mine, other in zip(columns, theirs, strict=True):
            where = f"{table}.{mine.name}"
            assert _type_fits(mine, other.type), f"{where}: {mine.type} vs {other.type}"
            assert other.not_null == mine.not_null, where
            assert other.default == mine.default, where


async def test_same_keys_indexes_and_triggers(both: tuple[Schema, Schema]) -> None:
    sqlite, postgresql = both
    assert postgresql.primary_keys == sqlite.primary_keys
    assert postgresql.unique_keys == sqlite.unique_keys
    assert postgresql.foreign_keys == sqlite.foreign_keys
    assert postgresql.indexes == sqlite.indexes
    assert postgresql.triggers == sqlite.triggers
    assert len(sqlite.indexes) > 10 and len(sqlite.triggers) == 4  # the comparison saw them

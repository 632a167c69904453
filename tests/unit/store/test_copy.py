"""`kling-bot db copy --to postgresql://…`: every row of an SQLite database in an empty PostgreSQL
database, ids kept and sequences past them, checked; refusals that keep the target as it was."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.records import (
    GuildSettings,
    InteractionToken,
    LibraryElement,
    NewTask,
    QuotaCheck,
)
from bot.domain.request import OmniRequest
from bot.engine.assembly import engine_lock
from bot.store.copy import CopyError, TableCopied, copy_to_postgresql
from bot.store.sql_store import SqlStore
from tests.helpers.cli import kling_bot, operator_env
from tests.helpers.tasks import path_to

S = TaskState
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REQUEST = OmniRequest(prompt="a lighthouse in a storm, waves breaking", aspect_ratio="16:9")
QUOTA = QuotaCheck(
    limit=100,
    window="day",
    window_start=NOW - timedelta(hours=12),
    resets_at=NOW + timedelta(hours=12),
)
# Names whose byte order differs from a language's: the compare must meet rows in one order.
ELEMENT_NAMES = ["Mascot", "mascot-2", "Émile", "zebra", "Ärger", "_base"]
TABLES = [
    "elements",
    "final_status_pending",
    "guild_settings",
    "interaction_tokens",
    "message_links",
    "quota_ledger",
    "quota_overrides",
    "task_events",
    "tasks",
]


async def fill(path: Path) -> dict[TaskState, int]:
    """An SQLite database with a task in every state and a row in every table; the id of each
    state's task."""
    ids: dict[TaskState, int] = {}
    async with await SqlStore.open(path) as store:
        for number, state in enumerate(TaskState):
            new = NewTask(
                origin="discord",
                request=REQUEST,
                cost=1,
                guild_id=10,
                channel_id=20,
                user_id=30 + number,
                user_name=f"Member {number} ✨",
            )
            task = await store.create_task(new, now=NOW, quota=QUOTA)
            await store.set_status_message(task.id, 5000 + task.id)
            await store.link_message(5000 + task.id, task.id, "status")
            for step, move in enumerate(path_to(state)):
                await store.transition(
                    task.id, move, now=NOW + timedelta(seconds=step + 1), detail=f"to {move}"
                )
            ids[state] = task.id
        delivered = ids[S.DELIVERED]
        await store.link_message(9000, delivered, "result")
        rerun = NewTask(
            origin="rerun",
            request=REQUEST,
            cost=1,
            guild_id=10,
            channel_id=20,
            user_id=30,
            rerun_of=delivered,
            parent_id=delivered,
            parent_kind="variation",
        )
        await store.create_task(rerun, now=NOW)
        await store.create_task(NewTask(origin="cli", request=REQUEST, cost=0), now=NOW)
        token = InteractionToken(77, "interaction-token-secret", NOW + timedelta(minutes=15))
        await store.save_interaction_token(ids[S.QUEUED], token)
        await store.set_override(10, "member", 30, limit=9, window="week", now=NOW)
        await store.set_override(10, "role", 40, limit=None, now=NOW)
        await store.set_guild_settings(
            GuildSettings(10, default_limit="unlimited", window="month", moderator_role_ids=(40,)),
            now=NOW,
        )
        await store.reset_usage(10, 31, since=NOW - timedelta(days=1), now=NOW)
        for number, name in enumerate(ELEMENT_NAMES):
            await store.add_element(LibraryElement(10, name, 100 + number, 30, NOW))
    # SQLite's AUTOINCREMENT counter may be past the last id: PostgreSQL must not reuse those.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sqlite_sequence SET seq = seq + 40 WHERE name = 'tasks'")
    return ids


def sqlite_table(path: Path, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        cursor = db.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cursor.description]
        return columns, sorted(cursor.fetchall(), key=repr)


async def postgresql_table(url: str, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        listed = ", ".join(columns)
        return sorted(
            (tuple(r) for r in await conn.fetch(f"SELECT {listed} FROM {table}")), key=repr
        )
    finally:
        await conn.close()


@pytest.fixture
async def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "kling-bot.sqlite3"


async def test_every_row_of_every_table_arrives_and_the_copy_works_on(
    sqlite_path: Path, new_postgresql_database: str
) -> None:
    ids = await fill(sqlite_path)
    copied = await copy_to_postgresql(sqlite_path, new_postgresql_database, batch_rows=3)
    assert [table.table for table in copied] == ["tasks", *(t for t in TABLES if t != "tasks")]
    for table in TABLES:
        columns, rows = sqlite_table(sqlite_path, table)
        assert rows, f"the test database has no {table}"
        assert await postgresql_table(new_postgresql_database, table, columns) == rows, table
        assert TableCopied(table, len(rows)) in copied

    async with (
        await SqlStore.open(sqlite_path) as before,
        await SqlStore.open(new_postgresql_database) as after,
    ):
        for task_id in ids.values():
            assert await after.get_task(task_id) == await before.get_task(task_id)
            assert await after.task_events(task_id) == await before.task_events(task_id)
            assert await after.ledger_for_task(task_id) == await before.ledger_for_task(task_id)
        assert await after.list_elements(10) == await before.list_elements(10)
        assert await after.list_overrides(10) == await before.list_overrides(10)
        assert await after.get_guild_settings(10) == await before.get_guild_settings(10)
        assert await after.final_status_pending() == await before.final_status_pending()
        assert await after.interaction_token(ids[S.QUEUED]) == await before.interaction_token(
            ids[S.QUEUED]
        )
        # The copy goes on where SQLite stopped: a transition, and a new task past every id.
        moved = await after.transition(ids[S.QUEUED], S.SUBMITTING, now=NOW)
        assert moved.state is S.SUBMITTING
        assert (await after.task_events(moved.id))[-1].to_state is S.SUBMITTING
        new = await after.create_task(
            NewTask(origin="cli", request=REQUEST, cost=0), now=NOW + timedelta(hours=1)
        )
        with sqlite3.connect(sqlite_path) as db:
            (counter,) = db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'tasks'"
            ).fetchone()
        assert new.id == counter + 1


async def test_a_target_with_rows_is_refused_and_left_as_it_was(
    sqlite_path: Path, postgresql_url: str
) -> None:
    await fill(sqlite_path)
    async with await SqlStore.open(postgresql_url) as target:
        await target.set_guild_settings(GuildSettings(99, default_limit=3), now=NOW)
    with pytest.raises(CopyError) as refused:
        await copy_to_postgresql(sqlite_path, postgresql_url)
    message = refused.value.member_message
    assert "is not empty (guild_settings: 1 rows), so nothing was copied" in message
    assert "db copy fills only a new, empty database" in message
    assert await postgresql_table(postgresql_url, "tasks", ["id"]) == []
    assert await postgresql_table(postgresql_url, "guild_settings", ["guild_id"]) == [(99,)]


async def test_a_row_postgresql_refuses_keeps_nothing(
    sqlite_path: Path, new_postgresql_database: str
) -> None:
    await fill(sqlite_path)
    with sqlite3.connect(sqlite_path) as db:  # foreign keys are off on a plain connection
        db.execute(
            "INSERT INTO message_links (message_id, task_id, kind) VALUES (1, 12345, 'status')"
        )
    with pytest.raises(CopyError) as refused:
        await copy_to_postgresql(sqlite_path, new_postgresql_database)
    assert "refused the copy, so nothing was kept" in refused.value.member_message
    for table in TABLES:
        assert await postgresql_table(new_postgresql_database, table, ["*"]) == [], table


async def test_a_row_that_arrives_changed_is_found_and_nothing_is_kept(
    sqlite_path: Path, postgresql_url: str
) -> None:
    await fill(sqlite_path)
    conn = await asyncpg.connect(postgresql_url)
    # A trigger that changes what it is given: the copy is read back, not trusted.
    await conn.execute(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$; "
        "CREATE TRIGGER shout BEFORE INSERT ON elements FOR EACH ROW EXECUTE FUNCTION shout()"
    )
    try:
        with pytest.raises(CopyError) as refused:
            await copy_to_postgresql(sqlite_path, postgresql_url)
    finally:
        await conn.execute("DROP TRIGGER shout ON elements; DROP FUNCTION shout()")
        await conn.close()
    assert refused.value.member_message == (
        "Row 1 of elements differs after the copy (in name), so nothing was kept."
    )
    assert await postgresql_table(postgresql_url, "tasks", ["id"]) == []


async def test_a_missing_source_and_a_server_that_does_not_answer(
    tmp_path: Path, new_postgresql_database: str
) -> None:
    with pytest.raises(CopyError, match=r"There is no database at .* to copy"):
        await copy_to_postgresql(tmp_path / "none.sqlite3", new_postgresql_database)
    assert not (tmp_path / "none.sqlite3").exists()
    await fill(tmp_path / "bot.sqlite3")
    with pytest.raises(CopyError) as refused:
        await copy_to_postgresql(
            tmp_path / "bot.sqlite3", "postgresql://kling:hunter2-secret@127.0.0.1:1/kling"
        )
    assert "hunter2-secret" not in refused.value.member_message
    assert "postgresql://kling:***@127.0.0.1:1/kling" in refused.value.member_message


def config(directory: Path, database: str = "data/kling-bot.sqlite3") -> Path:
    path = directory / "config.toml"
    path.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    return path


@pytest.mark.slow
async def test_the_command_copies_and_says_what(
    tmp_path: Path, new_postgresql_database: str
) -> None:
    await fill(tmp_path / "data" / "kling-bot.sqlite3")
    config(tmp_path)
    run = await kling_bot("db", "copy", "--to", new_postgresql_database, cwd=tmp_path)
    assert run.code == 0, run.output
    lines = run.stdout.splitlines()
    assert lines[0] == "  tasks: 15 rows"
    assert "  elements: 6 rows" in lines
    assert "every row was read back and matches" in run.stdout
    assert f'storage.database = "{new_postgresql_database}"' in run.stdout
    assert "every process of the bot needs the same storage.media_dir" in run.stdout
    again = await kling_bot("db", "copy", "--to", new_postgresql_database, cwd=tmp_path)
    assert again.code == 1
    assert "is not empty (" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("mysql://kling@db/kling", "is not a PostgreSQL URL: write it like postgresql://"),
        ("postgresql:/db/kling", "must start with postgresql:// (two slashes)"),
        ("data/other.sqlite3", "is not a PostgreSQL URL"),
        (
            "postgresql://kling:hunter2-secret@db:5432/kling",
            "--to has a password in it, and a command line is seen by every user of this "
            "machine and kept in the shell's history: give the URL without it "
            "(postgresql://kling@db:5432/kling) and the password in PGPASSWORD or ~/.pgpass.",
        ),
    ],
    ids=["mysql", "one-slash", "a-path", "a-password"],
)
async def test_the_command_refuses_a_target_that_is_not_a_postgresql_url(
    tmp_path: Path, to: str, expected: str
) -> None:
    await fill(tmp_path / "data" / "kling-bot.sqlite3")
    config(tmp_path)
    run = await kling_bot("db", "copy", "--to", to, cwd=tmp_path)
    assert run.code == 2
    assert expected in run.stderr
    assert "hunter2-secret" not in run.output
    assert "Traceback" not in run.output


@pytest.mark.slow
async def test_the_command_refuses_a_postgresql_source_and_a_running_bot(
    tmp_path: Path, new_postgresql_database: str
) -> None:
    config(tmp_path, "postgresql://kling:hunter2-secret@db.internal/kling")
    run = await kling_bot("db", "copy", "--to", new_postgresql_database, cwd=tmp_path)
    assert run.code == 2
    assert "storage.database is PostgreSQL already (postgresql://kling:***@db.internal/kling)" in (
        run.stderr
    )
    assert "hunter2-secret" not in run.output
    env = operator_env(PGPASSWORD="unused")
    await fill(tmp_path / "data" / "kling-bot.sqlite3")
    config(tmp_path)
    async with engine_lock(tmp_path / "data" / "kling-bot.sqlite3"):
        busy = await kling_bot("db", "copy", "--to", new_postgresql_database, cwd=tmp_path, env=env)
    assert busy.code == 1
    assert "Another kling-bot process" in busy.stderr
    conn = await asyncpg.connect(new_postgresql_database)
    try:  # refused before anything was done: not even the schema was made
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )
    finally:
        await conn.close()

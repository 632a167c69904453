"""The SQLite task store on real files: opening, migrations, tasks, transitions, links, scale."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.errors import IllegalTransition, TaskNotFound
from bot.domain.lifecycle import TERMINAL_STATES, TaskState
from bot.domain.records import InteractionToken, NewTask, QueueEntry, QuotaCheck
from bot.domain.request import OmniRequest, make_request
from bot.store import TaskStore
from bot.store.migrate import Migration, load_migrations, migrate, split_statements, user_version
from bot.store.sql_store import SqlStore
from tests.helpers.stores import INTEGRITY_ERRORS
from tests.helpers.stores import raw as raw_sql
from tests.helpers.tasks import path_to

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
REQUEST = OmniRequest(prompt="a red fox running through snow", aspect_ratio="16:9")
UNFINISHED = [s for s in TaskState if not s.is_terminal]
QUOTA = QuotaCheck(
    limit=100,
    window="day",
    window_start=NOW - timedelta(hours=12),
    resets_at=NOW + timedelta(hours=12),
)


def new_task(user_id: int = 30, *, guild_id: int = 10, cost: int = 1, **kwargs: object) -> NewTask:
    kwargs.setdefault("origin", "discord")
    return NewTask(
        request=REQUEST,
        cost=cost,
        guild_id=guild_id,
        channel_id=20,
        user_id=user_id,
        **kwargs,  # type: ignore[arg-type]
    )


async def walk(store: SqlStore, task_id: int, states: list[TaskState]) -> None:
    for state in states:
        await store.transition(task_id, state, now=NOW)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "bot.sqlite3"


def raw(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Look at the file as an operator would, with a separate plain connection."""
    with sqlite3.connect(db_path) as db:
        return db.execute(sql, params).fetchall()


# -- opening and migrations ------------------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_open_creates_the_directory_schema_and_wal(store: SqlStore, db_path: Path) -> None:
    assert raw(db_path, "PRAGMA user_version") == [(len(load_migrations()),)]
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    expected = {"tasks", "task_events", "quota_ledger", "quota_overrides", "guild_settings"}
    assert expected | {"message_links"} <= tables
    assert await store.integrity_check() == "ok"


@pytest.mark.sqlite_only
async def test_connection_pragmas(store: SqlStore) -> None:
    async def pragma(name: str) -> object:
        async with store.backend.connection.execute(f"PRAGMA {name}") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return row[0]

    assert await pragma("foreign_keys") == 1
    assert await pragma("synchronous") == 1  # NORMAL
    assert await pragma("busy_timeout") == 5000


async def test_reopening_runs_no_migration_again_and_keeps_data(db_path: Path) -> None:
    first = await SqlStore.open(db_path)
    task = await first.create_task(new_task(), now=NOW)
    await first.close()
    for _ in range(3):
        again = await SqlStore.open(db_path)  # would fail on CREATE TABLE if re-run
        assert (await again.get_task(task.id)).external_id == task.external_id
        await again.close()
    assert raw(db_path, "PRAGMA user_version") == [(len(load_migrations()),)]
    assert raw(db_path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'tasks'") == [(1,)]


async def test_a_store_is_a_task_store_and_closes_twice(store_location: Path | str) -> None:
    async with await SqlStore.open(store_location) as opened:
        as_interface: TaskStore = opened
        assert await as_interface.count_in_states(TaskState) == 0
    await opened.close()


async def test_a_database_from_a_newer_bot_is_refused(db_path: Path) -> None:
    await (await SqlStore.open(db_path)).close()
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="schema version 99"):
        await SqlStore.open(db_path)


async def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    steps = [
        Migration(1, "one", "CREATE TABLE one (x INTEGER);"),
        Migration(2, "two", "CREATE TABLE two (x INTEGER); INSERT INTO nowhere VALUES (1);"),
    ]
    async with aiosqlite.connect(tmp_path / "m.sqlite3", isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError, match="nowhere"):
            await migrate(db, steps)
        assert await user_version(db) == 1
        async with db.execute("SELECT name FROM sqlite_master") as cursor:
            names = [r[0] for r in await cursor.fetchall()]
        assert names == ["one"]  # table `two` was rolled back with its migration
        assert await migrate(db, steps[:1]) == 1  # and nothing is re-applied


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "init"


def test_split_statements_keeps_triggers_strings_and_comments_whole() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER t_no_delete BEFORE DELETE ON t
    BEGIN
        SELECT RAISE(ABORT, 'no; never');
    END;
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'a;b');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (x")


# -- creating tasks --------------------------------------------------------------------------------


async def test_create_task_stores_everything_and_its_first_event(store: SqlStore) -> None:
    task = await store.create_task(new_task(cost=2), now=NOW)
    assert task.state is S.QUEUED
    assert (task.guild_id, task.channel_id, task.user_id, task.cost) == (10, 20, 30, 2)
    assert task.request == REQUEST
    assert task.external_id.startswith("kob-") and len(task.external_id) == 36
    assert task.created_at == task.updated_at == task.queued_at == NOW
    assert task.created_at.tzinfo is not None
    assert (task.submitted_at, task.finished_at, task.api_task_id) == (None, None, None)
    assert (task.attempts, task.poll_count) == (0, 0)
    assert await store.get_task(task.id) == task
    [event] = await store.task_events(task.id)
    assert (event.from_state, event.to_state, event.at) == (None, S.QUEUED, NOW)
    assert await store.ledger_for_task(task.id) == []  # no quota given: nothing charged


async def test_ids_are_short_increasing_numbers(store: SqlStore) -> None:
    ids = [(await store.create_task(new_task(), now=NOW)).id for _ in range(3)]
    assert ids == [1, 2, 3]


async def test_times_keep_microseconds_and_any_timezone_becomes_utc(store: SqlStore) -> None:
    paris_summer = datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    task = await store.create_task(new_task(), now=paris_summer)
    assert task.created_at == paris_summer
    assert task.created_at.utcoffset() == timedelta(0)


async def test_naive_times_are_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.create_task(new_task(), now=datetime(2025, 1, 1))
    assert await store.count_in_states(TaskState) == 0


async def test_cli_and_rerun_tasks(store: SqlStore) -> None:
    cli = await store.create_task(NewTask(origin="cli", request=REQUEST, cost=1), now=NOW)
    assert (cli.origin, cli.guild_id, cli.user_id) == ("cli", None, None)
    rerun = await store.create_task(new_task(user_id=31, origin="rerun", rerun_of=cli.id), now=NOW)
    assert (rerun.origin, rerun.rerun_of, rerun.user_id) == ("rerun", cli.id, 31)
    assert "rerun of task 1" in (await store.task_events(rerun.id))[0].detail
    with pytest.raises(ValueError, match="quota"):
        await store.create_task(
            NewTask(origin="cli", request=REQUEST, cost=1), now=NOW, quota=QUOTA
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": "discord", "cost": 1}, "needs guild_id"),
        ({"origin": "rerun", "cost": 1, "guild_id": 1, "channel_id": 2, "user_id": 3}, "rerun_of"),
        ({"origin": "cli", "cost": -1}, "negative"),
    ],
)
def test_new_task_refuses_impossible_tasks(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NewTask(request=REQUEST, **kwargs)  # type: ignore[arg-type]


async def test_create_is_idempotent_on_the_external_id(store: SqlStore) -> None:
    new = new_task()
    first = await store.create_task(new, now=NOW, quota=QUOTA)
    again = await store.create_task(new, now=NOW + timedelta(seconds=5), quota=QUOTA)
    assert again == first
    assert await store.count_in_states(TaskState) == 1
    assert [e.kind for e in await store.ledger_for_task(first.id)] == ["charge"]  # charged once
    other = new_task(user_id=99, external_id=new.external_id)
    with pytest.raises(ValueError, match="already names task"):
        await store.create_task(other, now=NOW)


# -- transitions -----------------------------------------------------------------------------------


async def test_a_task_walks_its_happy_path_with_fields_and_timestamps(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    t1, t2, t3 = (NOW + timedelta(minutes=m) for m in (1, 2, 3))
    await store.transition(task.id, S.SUBMITTING, now=t1, expect=S.QUEUED)
    done = await store.transition(task.id, S.SUBMITTED, now=t1, api_task_id="878106484537192522")
    assert (done.submitted_at, done.api_task_id) == (t1, "878106484537192522")
    await store.transition(task.id, S.PROCESSING, now=t2, progress_pct=30)
    await store.transition(task.id, S.SUCCEEDED, now=t2, result_url="https://cdn.example/v.mp4")
    await store.transition(task.id, S.DELIVERING, now=t3, result_path="media/1.mp4")
    done = await store.transition(
        task.id,
        S.DELIVERED,
        now=t3,
        delivery_message_id=555,
        result_size_bytes=1234,
        detail="posted",
    )
    assert done.state is S.DELIVERED and done.is_terminal
    assert (done.finished_at, done.updated_at, done.submitted_at) == (t3, t3, t1)
    assert (done.progress_pct, done.result_size_bytes, done.delivery_message_id) == (30, 1234, 555)
    assert (done.result_url, done.result_path) == ("https://cdn.example/v.mp4", "media/1.mp4")
    events = await store.task_events(task.id)
    assert [(e.from_state, e.to_state) for e in events[1:]] == list(
        zip(
            [S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.SUCCEEDED, S.DELIVERING],
            [S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.SUCCEEDED, S.DELIVERING, S.DELIVERED],
            strict=True,
        )
    )
    assert events[-1].detail == "posted"
    # Posting the result linked the message for reaction reruns.
    assert await store.task_for_message(555, kind="result") == done


async def test_an_illegal_move_changes_nothing(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    with pytest.raises(IllegalTransition, match="from queued to delivered"):
        await store.transition(task.id, S.DELIVERED, now=NOW, result_url="x")
    assert await store.get_task(task.id) == task
    assert len(await store.task_events(task.id)) == 1


async def test_a_stale_move_is_refused(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    await store.transition(task.id, S.SUBMITTING, now=NOW)
    # SUBMITTING → FAILED is legal, but this caller believed the task was still QUEUED.
    with pytest.raises(IllegalTransition, match="is submitting, not queued"):
        await store.transition(task.id, S.FAILED, now=NOW, expect=S.QUEUED)
    ok = await store.transition(task.id, S.FAILED, now=NOW, expect=[S.QUEUED, S.SUBMITTING])
    assert ok.state is S.FAILED


async def test_transition_refuses_unknown_fields_and_missing_tasks(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    with pytest.raises(TypeError, match="state"):
        await store.transition(task.id, S.SUBMITTING, now=NOW, state="delivered")  # type: ignore[call-arg]
    with pytest.raises(TaskNotFound, match="no task 999"):
        await store.transition(999, S.SUBMITTING, now=NOW)


@pytest.mark.parametrize("two_stores", [False, True], ids=["one store", "two stores"])
async def test_compare_and_set_lets_exactly_one_of_two_racers_win(
    store_location: Path | str, two_stores: bool
) -> None:
    first = await SqlStore.open(store_location)
    second = await SqlStore.open(store_location) if two_stores else first
    try:
        tasks = [await first.create_task(new_task(), now=NOW) for _ in range(20)]
        for task in tasks:
            results = await asyncio.gather(
                first.transition(task.id, S.SUBMITTING, now=NOW, expect=S.QUEUED, detail="a"),
                second.transition(task.id, S.SUBMITTING, now=NOW, expect=S.QUEUED, detail="b"),
                return_exceptions=True,
            )
            wins = [r for r in results if not isinstance(r, BaseException)]
            losses = [r for r in results if isinstance(r, IllegalTransition)]
            assert (len(wins), len(losses)) == (1, 1)
            assert [e.to_state for e in await first.task_events(task.id)] == [
                S.QUEUED,
                S.SUBMITTING,
            ]
    finally:
        await first.close()
        await second.close()


# CANCELLED has its own rule (bot.domain.cancellation), tested in test_cancellation.py.
@pytest.mark.parametrize("ending", sorted(TERMINAL_STATES - {TaskState.CANCELLED}), ids=str)
async def test_each_ending_refunds_exactly_when_the_lifecycle_says(
    store: SqlStore, ending: TaskState
) -> None:
    task = await store.create_task(new_task(cost=3), now=NOW, quota=QUOTA)
    await walk(store, task.id, path_to(ending))
    ledger = await store.ledger_for_task(task.id)
    if ending.is_refunded:
        assert [(e.kind, e.credits) for e in ledger] == [("charge", 3), ("refund", -3)]
        assert ledger[1].counts_at == ledger[0].counts_at
    else:
        assert [(e.kind, e.credits) for e in ledger] == [("charge", 3)]
    used = await store.credits_used(10, 30, since=QUOTA.window_start)
    assert used == (0 if ending.is_refunded else 3)
    # A second attempt to end the task (a retry after a crash) is refused and refunds nothing more.
    for again in TaskState:
        with pytest.raises(IllegalTransition):
            await store.transition(task.id, again, now=NOW)
    assert await store.ledger_for_task(task.id) == ledger


async def test_two_racing_refunds_write_one_refund(store_location: Path | str) -> None:
    first, second = await SqlStore.open(store_location), await SqlStore.open(store_location)
    try:
        task = await first.create_task(new_task(), now=NOW, quota=QUOTA)
        results = await asyncio.gather(
            first.transition(task.id, S.FAILED, now=NOW),
            second.transition(task.id, S.REJECTED, now=NOW),
            return_exceptions=True,
        )
        assert sum(isinstance(r, IllegalTransition) for r in results) == 1
        kinds = [e.kind for e in await first.ledger_for_task(task.id)]
        assert kinds == ["charge", "refund"]
    finally:
        await first.close()
        await second.close()


async def test_an_uncharged_task_is_refunded_nothing(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)  # e.g. quotas switched off
    await store.transition(task.id, S.FAILED, now=NOW)
    assert await store.ledger_for_task(task.id) == []


async def test_requeue_counts_an_attempt_and_keeps_the_place(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    later = NOW + timedelta(minutes=5)
    await store.transition(task.id, S.SUBMITTING, now=later)
    back = await store.requeue(
        task.id, not_before=later + timedelta(seconds=30), now=later, detail="429"
    )
    assert (back.state, back.attempts, back.queued_at) == (S.QUEUED, 1, NOW)
    assert back.not_before == later + timedelta(seconds=30)
    assert [(e.task_id, e.not_before) for e in await store.queue_entries()] == [
        (task.id, later + timedelta(seconds=30))
    ]
    await store.transition(task.id, S.SUBMITTING, now=later)
    await store.transition(task.id, S.AMBIGUOUS, now=later)
    again = await store.requeue(task.id, not_before=None, now=later, detail="proven absent")
    assert (again.attempts, again.not_before) == (2, None)
    with pytest.raises(IllegalTransition, match="is queued, not submitting or ambiguous"):
        await store.requeue(task.id, not_before=None, now=later)


# -- reading tasks ---------------------------------------------------------------------------------


async def test_queries_by_state(store: SqlStore) -> None:
    ids: dict[TaskState, list[int]] = {}
    for state in [S.QUEUED, S.SUBMITTED, S.PROCESSING, S.DELIVERED, S.FAILED, S.QUEUED]:
        task = await store.create_task(new_task(), now=NOW)
        await walk(store, task.id, path_to(state) if state is not S.QUEUED else [])
        ids.setdefault(state, []).append(task.id)
    at_api = await store.tasks_in_states([S.SUBMITTED, S.PROCESSING])
    assert [t.id for t in at_api] == ids[S.SUBMITTED] + ids[S.PROCESSING]
    assert [t.id for t in await store.tasks_in_states(S)] == list(range(1, 7))
    assert await store.tasks_in_states([]) == []
    assert await store.count_in_states(UNFINISHED) == 4
    assert await store.count_in_states([S.DELIVERED, S.FAILED]) == 2
    assert [e.task_id for e in await store.queue_entries()] == ids[S.QUEUED]


async def test_list_tasks_filters_newest_first_and_pages(store: SqlStore) -> None:
    for user in [1, 2, 1, 1, 2, 1]:
        await store.create_task(new_task(user), now=NOW)
    await store.create_task(new_task(1, guild_id=11), now=NOW)
    await store.transition(3, S.FAILED, now=NOW)
    assert [t.id for t in await store.list_tasks()] == [7, 6, 5, 4, 3, 2, 1]
    assert [t.id for t in await store.list_tasks(guild_id=10, user_id=1)] == [6, 4, 3, 1]
    assert [t.id for t in await store.list_tasks(guild_id=10, user_id=1, limit=2)] == [6, 4]
    page = await store.list_tasks(guild_id=10, user_id=1, limit=2, before_id=4)
    assert [t.id for t in page] == [3, 1]
    assert [t.id for t in await store.list_tasks(state=S.FAILED)] == [3]
    assert [t.id for t in await store.list_tasks(state=UNFINISHED, guild_id=10)] == [6, 5, 4, 2, 1]
    assert [t.id for t in await store.list_tasks(guild_id=11)] == [7]
    with pytest.raises(ValueError, match="limit"):
        await store.list_tasks(limit=0)


async def test_missing_tasks(store: SqlStore) -> None:
    for read in (store.get_task, store.task_events):
        with pytest.raises(TaskNotFound, match=r"There is no task 42\."):
            await read(42)
    with pytest.raises(TaskNotFound):
        await store.record_poll(42, now=NOW)
    assert await store.ledger_for_task(42) == []


async def test_record_poll_counts_without_an_event(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    await walk(store, task.id, [S.SUBMITTING, S.SUBMITTED, S.PROCESSING])
    await store.record_poll(task.id, now=NOW + timedelta(seconds=10), progress_pct=40)
    await store.record_poll(task.id, now=NOW + timedelta(seconds=20))  # no progress in the answer
    polled = await store.get_task(task.id)
    assert (polled.poll_count, polled.progress_pct) == (2, 40)
    assert polled.last_polled_at == NOW + timedelta(seconds=20)
    assert len(await store.task_events(task.id)) == 4


# -- message links ---------------------------------------------------------------------------------


async def test_message_links(store: SqlStore) -> None:
    one = await store.create_task(new_task(), now=NOW)
    two = await store.create_task(new_task(), now=NOW)
    await store.set_status_message(one.id, 1001)
    assert (await store.get_task(one.id)).status_message_id == 1001
    assert (await store.task_for_message(1001)) == await store.get_task(one.id)
    assert await store.task_for_message(1001, kind="result") is None
    await store.link_message(2002, one.id, "result")
    await store.link_message(2002, one.id, "result")  # a retry after a crash is harmless
    found = await store.task_for_message(2002, kind="result")
    assert found is not None and found.id == one.id
    assert await store.task_for_message(3003) is None
    with pytest.raises(ValueError, match="already belongs to task 1"):
        await store.link_message(2002, two.id, "result")
    with pytest.raises(TaskNotFound):
        await store.link_message(4004, 999, "status")
    status = await store.transition(two.id, S.SUBMITTING, now=NOW, status_message_id=5005)
    assert status.status_message_id == 5005
    assert await store.task_for_message(5005, kind="status") == status


# -- append-only history ---------------------------------------------------------------------------


async def test_an_ended_task_with_a_status_message_has_its_final_state_pending(
    store: SqlStore,
) -> None:
    shown = await store.create_task(new_task(), now=NOW)
    await store.set_status_message(shown.id, 900)
    quiet = await store.create_task(new_task(), now=NOW)  # no status message: nothing to show
    late = await store.create_task(new_task(), now=NOW)
    assert await store.final_status_pending() == []  # nothing has ended yet
    for task in (shown, quiet, late):
        await store.transition(task.id, S.REJECTED, now=NOW)
    await store.set_status_message(late.id, 901)  # its message came after it ended

    assert await store.final_status_pending() == [shown.id, late.id]
    await store.final_status_shown(shown.id)
    await store.final_status_shown(shown.id)  # idempotent
    assert await store.final_status_pending() == [late.id]


async def test_an_interaction_token_is_kept_until_the_task_ends(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    token = InteractionToken(77, "aW50ZXJhY3Rpb24secret", NOW + timedelta(minutes=15))
    assert "secret" not in repr(token)
    assert await store.interaction_token(task.id) is None

    await store.save_interaction_token(task.id, token)
    assert await store.interaction_token(task.id) == token
    assert token.is_alive(NOW) and not token.is_alive(NOW + timedelta(minutes=15))

    await store.transition(task.id, S.REJECTED, now=NOW)
    assert await store.interaction_token(task.id) is None  # the secret goes with the task
    await store.save_interaction_token(task.id, token)
    assert await store.interaction_token(task.id) is None


async def test_history_and_ledger_refuse_edits(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW, quota=QUOTA)
    for sql in (
        "UPDATE quota_ledger SET credits = 0",
        "DELETE FROM quota_ledger",
        "UPDATE task_events SET detail = 'x'",
        "DELETE FROM task_events",
    ):
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await raw_sql(store, sql)
    assert len(await store.ledger_for_task(task.id)) == 1


async def test_the_schema_keeps_finished_at_in_step_with_the_state(store: SqlStore) -> None:
    task = await store.create_task(new_task(), now=NOW)
    with pytest.raises(INTEGRITY_ERRORS, match=r"(?i)check"):
        await raw_sql(store, "UPDATE tasks SET state = 'failed' WHERE id = ?", (task.id,))


# -- scale -----------------------------------------------------------------------------------------


async def test_opening_a_big_database_loads_only_the_unfinished_tasks(
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    """100,000 finished tasks must not slow down a restart (the partial indexes). No timing assert:
    the time is printed and recorded; see the report."""
    seeded = await SqlStore.open(db_path)
    unfinished = []
    for state in [S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.AMBIGUOUS, S.DELIVERING] * 5:
        task = await seeded.create_task(new_task(), now=NOW)
        await walk(seeded, task.id, path_to(state))
        unfinished.append(task.id)
    await seeded.close()
    stamp = "2024-12-01T00:00:00.000000Z"
    rows = [
        (f"kob-bulk-{i:06d}", 10, 20, 1000 + i % 500, REQUEST.model_dump_json(), stamp)
        for i in range(100_000)
    ]
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO tasks (external_id, origin, guild_id, channel_id, user_id, request_json, "
            "cost, state, created_at, updated_at, queued_at, finished_at) "
            "VALUES (?1, 'discord', ?2, ?3, ?4, ?5, 1, 'delivered', ?6, ?6, ?6, ?6)",
            rows,
        )

    started = time.perf_counter()
    reopened = await SqlStore.open(db_path)
    loaded = await reopened.tasks_in_states(UNFINISHED)
    elapsed_s = time.perf_counter() - started
    try:
        assert [t.id for t in loaded] == unfinished
        assert await reopened.count_in_states([S.DELIVERED]) == 100_000
        assert len(await reopened.list_tasks(guild_id=10, user_id=1000)) == 20
    finally:
        await reopened.close()
    record_property("open_and_load_unfinished_s", round(elapsed_s, 4))
    with capsys.disabled():
        print(f"\n[store] open + load {len(loaded)} unfinished of 100,030 tasks: {elapsed_s:.4f} s")


async def test_queue_entries_are_the_queued_tasks_without_their_requests(store: SqlStore) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    request = make_request({"prompt": "a boat", "aspect_ratio": "16:9"})
    first = await store.create_task(
        NewTask(origin="discord", request=request, cost=1, guild_id=1, channel_id=2, user_id=3),
        now=now,
    )
    second = await store.create_task(NewTask(origin="cli", request=request, cost=0), now=now)
    await store.transition(second.id, TaskState.SUBMITTING, now=now)
    assert await store.queue_entries() == [QueueEntry(first.id, 1, 3, now, None, first.external_id)]


async def test_a_held_task_is_kept_out_of_the_queue_until_released(store: SqlStore) -> None:
    held = await store.create_task(new_task(31), now=NOW, quota=QUOTA, held=True)
    free = await store.create_task(new_task(32), now=NOW, quota=QUOTA)
    assert held.is_held and not free.is_held
    assert [e.task_id for e in await store.queue_entries()] == [free.id]
    # The hold was written with the charge: both are on disk together.
    assert [e.kind for e in await store.ledger_for_task(held.id)] == ["charge"]
    with pytest.raises(IllegalTransition, match="held"):
        await store.transition(held.id, S.SUBMITTING, now=NOW, expect=S.QUEUED)
    released = await store.release_task(held.id, now=NOW, status_message_id=555)
    assert released is not None and not released.is_held
    assert released.status_message_id == 555
    assert await store.task_for_message(555, kind="status") == released
    assert await store.release_task(held.id, now=NOW) is None  # released once
    assert [e.task_id for e in await store.queue_entries()] == [held.id, free.id]
    assert [e.detail for e in await store.task_events(held.id)][-1] == "released"
    await store.transition(held.id, S.SUBMITTING, now=NOW, expect=S.QUEUED)


async def test_withdrawing_a_held_task_ends_its_hold_and_a_late_release_does_nothing(
    store: SqlStore,
) -> None:
    held = await store.create_task(new_task(31), now=NOW, quota=QUOTA, held=True)
    withdrawn = await store.transition(held.id, S.REJECTED, now=NOW, expect=S.QUEUED)
    assert not withdrawn.is_held
    assert await store.release_task(held.id, now=NOW) is None
    assert (await store.get_task(held.id)).state is S.REJECTED
    with pytest.raises(INTEGRITY_ERRORS, match=r"(?i)check"):  # only a queued task is held
        await raw_sql(store, "UPDATE tasks SET held = 1 WHERE id = ?", (held.id,))

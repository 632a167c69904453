"""Cancelling a task: the pure rule for each state, and the store carrying it out atomically
(refunds, the request written for a task at the API, its end instead of a delivery)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.cancellation import CancelStep, cancel_step, refunds_cancellation
from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.records import NewTask, QuotaCheck
from bot.domain.request import OmniRequest
from bot.store.migrate import load_migrations, migrate
from bot.store.sql_store import SqlStore

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
QUOTA = QuotaCheck(
    limit=100, window="day", window_start=NOW - timedelta(hours=12), resets_at=NOW + timedelta(1)
)
MOD = 77


@pytest.mark.parametrize(
    ("state", "step"),
    [
        (S.QUEUED, CancelStep.END_NOW),
        (S.SUBMITTING, CancelStep.MARK),
        (S.SUBMITTED, CancelStep.MARK),
        (S.PROCESSING, CancelStep.MARK),
        (S.AMBIGUOUS, CancelStep.MARK),
        (S.SUCCEEDED, CancelStep.END_NOW),
        (S.DELIVERING, CancelStep.TOO_LATE),
        (S.DELIVERED, CancelStep.ENDED),
        (S.FAILED, CancelStep.ENDED),
        (S.CANCELLED, CancelStep.ENDED),
    ],
)
def test_what_a_cancellation_does_in_each_state(state: TaskState, step: CancelStep) -> None:
    assert cancel_step(state) is step


@pytest.mark.parametrize("refund_running", [False, True])
def test_only_a_video_the_api_made_follows_the_operators_rule(refund_running: bool) -> None:
    never_made = (S.QUEUED, S.SUBMITTING, S.AMBIGUOUS)
    for state in never_made:
        assert refunds_cancellation(state, refund_running=refund_running)
    for state in (S.SUBMITTED, S.PROCESSING, S.SUCCEEDED):
        assert refunds_cancellation(state, refund_running=refund_running) is refund_running


async def task_in(store: SqlStore, *states: TaskState) -> int:
    new = NewTask(
        origin="discord",
        request=OmniRequest(prompt="a fox", aspect_ratio="16:9"),
        cost=2,
        guild_id=1,
        channel_id=2,
        user_id=3,
    )
    task = await store.create_task(new, now=NOW, quota=QUOTA)
    for state in states:
        await store.transition(task.id, state, now=NOW)
    return task.id


async def charges(store: SqlStore, task_id: int) -> list[tuple[str, int]]:
    return [(e.kind, e.credits) for e in await store.ledger_for_task(task_id)]


async def test_a_queued_task_ends_at_once_refunded(store: SqlStore) -> None:
    task_id = await task_in(store)
    step, task = await store.cancel(task_id, by_user_id=MOD, refund_running=False, now=NOW)
    assert (step, task.state, task.cancelled_by, task.finished_at) == (
        CancelStep.END_NOW,
        S.CANCELLED,
        MOD,
        NOW,
    )
    assert await charges(store, task_id) == [("charge", 2), ("refund", -2)]
    assert (await store.task_events(task_id))[-1].detail == f"cancelled by <@{MOD}>"
    assert await store.final_status_pending() == []  # no status message yet: nothing to show


@pytest.mark.parametrize("refund_running", [False, True])
async def test_a_task_at_the_api_keeps_its_slot_then_ends_cancelled_instead_of_succeeded(
    store: SqlStore, refund_running: bool
) -> None:
    task_id = await task_in(store, S.SUBMITTING, S.SUBMITTED, S.PROCESSING)
    step, task = await store.cancel(task_id, by_user_id=MOD, refund_running=refund_running, now=NOW)
    assert (step, task.state, task.is_cancel_requested) == (CancelStep.MARK, S.PROCESSING, True)
    assert await store.count_in_states(AT_API_STATES) == 1  # the API still works on it
    assert await charges(store, task_id) == [("charge", 2)]
    again, _ = await store.cancel(task_id, by_user_id=99, refund_running=True, now=NOW)
    assert again is CancelStep.MARK and (await store.get_task(task_id)).cancelled_by == MOD

    ended = await store.transition(
        task_id, S.SUCCEEDED, now=NOW, expect=S.PROCESSING, result_url="https://x/v.mp4"
    )
    assert (ended.state, ended.result_url) == (S.CANCELLED, None)  # never delivered
    refunded = [("charge", 2), ("refund", -2)] if refund_running else [("charge", 2)]
    assert await charges(store, task_id) == refunded
    assert await store.count_in_states(AT_API_STATES) == 0


async def test_a_cancelled_task_the_api_failed_is_refunded_as_failed(store: SqlStore) -> None:
    task_id = await task_in(store, S.SUBMITTING, S.SUBMITTED)
    await store.cancel(task_id, by_user_id=MOD, refund_running=False, now=NOW)
    ended = await store.transition(task_id, S.FAILED, now=NOW, failure_reason="no")
    assert ended.state is S.FAILED
    assert await charges(store, task_id) == [("charge", 2), ("refund", -2)]


@pytest.mark.parametrize("state", [S.SUBMITTING, S.AMBIGUOUS])
async def test_a_cancelled_create_that_made_nothing_is_not_sent_again(
    store: SqlStore, state: TaskState
) -> None:
    path = [S.SUBMITTING] if state is S.SUBMITTING else [S.SUBMITTING, S.AMBIGUOUS]
    task_id = await task_in(store, *path)
    await store.cancel(task_id, by_user_id=MOD, refund_running=False, now=NOW)
    ended = await store.requeue(task_id, not_before=None, now=NOW, detail="429")
    assert ended.state is S.CANCELLED
    assert await charges(store, task_id) == [("charge", 2), ("refund", -2)]


@pytest.mark.parametrize("refund_running", [False, True])
async def test_a_made_video_not_yet_posted_ends_at_once(
    store: SqlStore, refund_running: bool
) -> None:
    task_id = await task_in(store, S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED)
    step, task = await store.cancel(task_id, by_user_id=MOD, refund_running=refund_running, now=NOW)
    assert (step, task.state) == (CancelStep.END_NOW, S.CANCELLED)
    refunded = [("charge", 2), ("refund", -2)] if refund_running else [("charge", 2)]
    assert await charges(store, task_id) == refunded


@pytest.mark.parametrize(
    ("states", "step"),
    [
        ((S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED, S.DELIVERING), CancelStep.TOO_LATE),
        ((S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED, S.DELIVERING, S.DELIVERED), CancelStep.ENDED),
        ((S.REJECTED,), CancelStep.ENDED),
    ],
)
async def test_too_late_or_ended_changes_nothing(
    store: SqlStore, states: tuple[TaskState, ...], step: CancelStep
) -> None:
    task_id = await task_in(store, *states)
    before = await store.get_task(task_id)
    taken, after = await store.cancel(task_id, by_user_id=MOD, refund_running=True, now=NOW)
    assert (taken, after) == (step, before)


async def test_the_rebuild_that_allows_cancelled_keeps_every_row_link_and_number(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before.sqlite3"
    migrations = load_migrations()
    before = next(m.version for m in migrations if m.name == "task_cancelled") - 1
    stamp = "2025-01-15T12:00:00.000000Z"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA foreign_keys = ON")
        await migrate(db, [m for m in migrations if m.version <= before])
        for parent in (None, 1):
            await db.execute(
                "INSERT INTO tasks (external_id, origin, guild_id, channel_id, user_id, "
                "request_json, cost, state, created_at, updated_at, queued_at, parent_id, "
                "parent_kind) VALUES (?, 'discord', 1, 2, 3, ?, 1, 'queued', ?, ?, ?, ?, ?)",
                (
                    f"kob-{parent}",
                    OmniRequest(prompt="a fox", aspect_ratio="16:9").model_dump_json(),
                    stamp,
                    stamp,
                    stamp,
                    parent,
                    None if parent is None else "variation",
                ),
            )
        await db.execute(
            "INSERT INTO task_events (task_id, at, to_state) VALUES (2, ?, 'queued')", (stamp,)
        )
        await db.execute("INSERT INTO message_links VALUES (99, 2, 'status')")
        await db.execute("UPDATE sqlite_sequence SET seq = 40 WHERE name = 'tasks'")
    store = await SqlStore.open(path)
    try:
        assert await store.integrity_check() == "ok"
        child = await store.get_task(2)
        assert (child.parent_id, child.parent_kind) == (1, "variation")
        assert (await store.task_for_message(99)) == child
        step, ended = await store.cancel(2, by_user_id=MOD, refund_running=False, now=NOW)
        assert (step, ended.state) == (CancelStep.END_NOW, S.CANCELLED)
        new = await task_in(store)
        assert new == 41  # an id is never reused: the counter came through the rebuild
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"tasks_unfinished_by_state", "tasks_by_parent", "tasks_by_rerun_of"} <= indexes

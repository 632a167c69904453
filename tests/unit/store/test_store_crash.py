"""Crashes, failures and cancellations in the middle of a store transaction leave no half task.

Failures are injected with triggers (a real database error at a chosen statement, on SQLite and
on PostgreSQL); crashes are real SIGKILLs of a child process that uses the store.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.lifecycle import TaskState, can_move
from bot.domain.records import NewTask, QuotaCheck
from bot.domain.request import OmniRequest
from bot.store.sql_store import SqlStore
from tests.helpers.stores import failing_insert, stalled_insert

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
TODAY = datetime(2025, 1, 15, tzinfo=UTC)
REQUEST = OmniRequest(prompt="waves on a rocky shore", aspect_ratio="1:1")
QUOTA = QuotaCheck(
    limit=None, window="day", window_start=TODAY, resets_at=TODAY + timedelta(days=1)
)
REPO = Path(__file__).resolve().parents[3]


def member_task(user_id: int = 30) -> NewTask:
    return NewTask("discord", REQUEST, 1, guild_id=10, channel_id=20, user_id=user_id)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "crash.sqlite3"


async def check_invariants(location: Path | str) -> int:
    """What must hold after any crash; returns how many tasks there are."""
    store = await SqlStore.open(location)
    try:
        assert await store.integrity_check() == "ok"
        tasks = await store.tasks_in_states(TaskState)
        kept_credits: dict[int, int] = {}
        for task in tasks:
            events = await store.task_events(task.id)
            assert events[0].from_state is None and events[0].to_state is S.QUEUED
            for before, after in itertools.pairwise(events):
                assert after.from_state is before.to_state
                assert can_move(before.to_state, after.to_state)
            assert events[-1].to_state is task.state
            assert (task.finished_at is not None) is task.state.is_terminal
            kinds = [e.kind for e in await store.ledger_for_task(task.id)]
            assert kinds == (["charge", "refund"] if task.state.is_refunded else ["charge"])
            if not task.state.is_refunded:
                assert task.user_id is not None
                kept_credits[task.user_id] = kept_credits.get(task.user_id, 0) + task.cost
        for user_id, credits in kept_credits.items():
            assert await store.credits_used(10, user_id, TODAY) == credits
        return len(tasks)
    finally:
        await store.close()


# -- failures and cancellations in-process ---------------------------------------------------------


@pytest.mark.parametrize("table", ["task_events", "quota_ledger"])
async def test_a_failure_inside_create_task_leaves_nothing(
    store: SqlStore, store_location: Path | str, table: str
) -> None:
    kept = await store.create_task(member_task(), now=NOW, quota=QUOTA)
    async with failing_insert(store, table):
        with pytest.raises(Exception, match="disk on fire"):
            await store.create_task(member_task(), now=NOW, quota=QUOTA)
    assert [t.id for t in await store.tasks_in_states(TaskState)] == [kept.id]
    assert await store.credits_used(10, 30, TODAY) == 1
    # The connection is usable again, not stuck inside the failed transaction.
    await store.create_task(member_task(), now=NOW, quota=QUOTA)
    assert await check_invariants(store_location) == 2


async def test_a_failure_while_refunding_keeps_the_task_where_it_was(
    store: SqlStore, store_location: Path | str
) -> None:
    task = await store.create_task(member_task(), now=NOW, quota=QUOTA)
    await store.transition(task.id, S.SUBMITTING, now=NOW)
    async with failing_insert(store, "quota_ledger", when="NEW.kind = 'refund'"):
        with pytest.raises(Exception, match="disk on fire"):
            await store.transition(task.id, S.FAILED, now=NOW, failure_reason="moderated")
    unchanged = await store.get_task(task.id)
    assert (unchanged.state, unchanged.failure_reason) == (S.SUBMITTING, None)
    assert len(await store.task_events(task.id)) == 2
    await store.transition(task.id, S.FAILED, now=NOW)  # the retry refunds, once
    assert await check_invariants(store_location) == 1


async def test_a_cancelled_caller_leaves_no_half_task_and_no_open_transaction(
    store: SqlStore, store_location: Path | str
) -> None:
    # Stalled after the transaction has written the task and its first event.
    async with stalled_insert(store, "task_events", store_location) as stalled:
        pending = asyncio.create_task(store.create_task(member_task(), now=NOW, quota=QUOTA))
        await stalled()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
    assert await store.count_in_states(TaskState) == 0
    assert await store.credits_used(10, 30, TODAY) == 0
    await store.create_task(member_task(), now=NOW, quota=QUOTA)
    assert await check_invariants(store_location) == 1


# -- real crashes ----------------------------------------------------------------------------------

_CHILD_PRELUDE = """
import asyncio, random, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from bot.domain.lifecycle import TaskState as S
from bot.domain.request import OmniRequest
from bot.domain.records import NewTask, QuotaCheck
from bot.store.sql_store import SqlStore
from tests.helpers.stores import failing_insert, stalled_insert

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
TODAY = datetime(2025, 1, 15, tzinfo=UTC)
QUOTA = QuotaCheck(None, "day", window_start=TODAY, resets_at=TODAY + timedelta(days=1))
REQUEST = OmniRequest(prompt="waves on a rocky shore", aspect_ratio="1:1")

def member_task(user_id=30):
    return NewTask("discord", REQUEST, 1, guild_id=10, channel_id=20, user_id=user_id)
"""

_HANG_INSIDE = """
def hang():
    print("inside", flush=True)
    time.sleep(60)
    return 0

async def main():
    store = await SqlStore.open(Path(sys.argv[1]))
    task = await store.create_task(member_task(), now=NOW, quota=QUOTA)
    await store.transition(task.id, S.SUBMITTING, now=NOW)
    await store.backend.connection.create_function("hang", 0, hang)
    await store.backend.connection.execute(
        "CREATE TEMP TRIGGER hang AFTER INSERT ON main.quota_ledger BEGIN SELECT hang(); END"
    )
    if sys.argv[2] == "create":
        await store.create_task(member_task(), now=NOW, quota=QUOTA)
    else:
        await store.transition(task.id, S.FAILED, now=NOW, failure_reason="lost")

asyncio.run(main())
"""

_WORKLOAD = """
PATHS = [
    [S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.SUCCEEDED, S.DELIVERING, S.DELIVERED],
    [S.SUBMITTING, S.REJECTED],
    [S.FAILED],
    [S.SUBMITTING, S.AMBIGUOUS, S.FAILED],
    [S.SUBMITTING, S.SUBMITTED, S.TIMED_OUT],
    [S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED, S.UNDELIVERABLE],
]

async def worker(store, rng, user_id):
    while True:
        task = await store.create_task(member_task(user_id), now=NOW, quota=QUOTA)
        path = rng.choice(PATHS)
        for state in path[: rng.randint(0, len(path))]:  # some tasks stay unfinished
            await store.transition(task.id, state, now=NOW)
        if rng.random() < 0.2:
            await store.record_poll(task.id, now=NOW, progress_pct=50)

async def main():
    store = await SqlStore.open(sys.argv[1])  # a path (SQLite) or a URL (PostgreSQL)
    rng = random.Random(int(sys.argv[2]))
    print("ready", flush=True)
    await asyncio.gather(*(worker(store, rng, 30 + n) for n in range(3)))

asyncio.run(main())
"""


def start_child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD_PRELUDE + script), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill_when(child: subprocess.Popen[str], line: str, *, after_s: float = 0.0) -> None:
    """Wait for the child to print `line`, then SIGKILL it (optionally a while later)."""
    assert child.stdout is not None
    assert child.stdout.readline().strip() == line, "the child died before reaching its point"
    time.sleep(after_s)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["create", "refund"])
async def test_kill_9_inside_a_transaction_leaves_no_trace(db_path: Path, operation: str) -> None:
    kill_when(start_child(_HANG_INSIDE, str(db_path), operation), "inside")
    assert await check_invariants(db_path) == 1
    store = await SqlStore.open(db_path)
    try:
        [task] = await store.tasks_in_states(TaskState)
        assert task.state is S.SUBMITTING  # the refund never half-happened
        assert [e.kind for e in await store.ledger_for_task(task.id)] == ["charge"]
    finally:
        await store.close()


@pytest.mark.slow
async def test_repeated_kill_9_under_load_keeps_every_invariant(
    store_location: Path | str,
) -> None:
    rng = random.Random(20250115)
    counts = []
    for round_number in range(6):
        child = start_child(_WORKLOAD, str(store_location), str(round_number))
        kill_when(child, "ready", after_s=rng.uniform(0.1, 0.4))
        counts.append(await check_invariants(store_location))
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0

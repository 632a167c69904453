"""The engine end to end against the fake CometAPI and a real SQLite store, with compressed time.

Each test asserts what the API saw (creates per task, concurrency) and how every task ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.domain.errors import ApiError
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.engine.courier import CourierSettings
from bot.engine.pace import QueryPace
from bot.engine.task_engine import (
    UNCONFIRMED_REASON,
    TaskEngine,
)
from bot.engine.tracker import Tracker, TrackerSettings
from bot.fakes.comet import FakeCometAPI, FakeCometConfig, FaultKind
from bot.omni.client import OmniClient
from bot.store.sql_store import SqlStore
from tests.helpers.clocks import StandingClock
from tests.helpers.engine import FAST_RETRY, UNLIMITED, creates_per_task, new_task, running_engine

SETTLE_S = 30  # a safety net against hangs, not a performance assertion


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    async with FakeCometAPI(FakeCometConfig(submitted_s=0.05, processing_s=0.15)) as server:
        yield server


async def settle(engine: TaskEngine, tasks: list[TaskRecord]) -> list[TaskRecord]:
    await asyncio.wait_for(engine.wait_until_settled([t.id for t in tasks]), SETTLE_S)
    return [await engine.store.get_task(t.id) for t in tasks]


async def test_every_task_is_delivered_once(tmp_path: Path, fake: FakeCometAPI) -> None:
    async with running_engine(tmp_path, fake) as engine:
        tasks = [await engine.enqueue(new_task(user_id=10 + i)) for i in range(6)]
        done = await settle(engine, tasks)
    assert [t.state for t in done] == [TaskState.DELIVERED] * 6
    assert creates_per_task(fake) == {t.external_id: 1 for t in done}
    for task in done:
        out = tmp_path / "out" / f"task-{task.id}.mp4"
        assert out.read_bytes()[4:8] == b"ftyp"
        assert task.result_size_bytes == out.stat().st_size


async def test_never_more_than_the_slots_and_fair_across_members(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    fake.config.max_concurrent_tasks = 2  # the fake refuses a third with 429/1303
    # All seven are queued before the engine starts: a slow enqueue must not let alice's first
    # tasks finish, and the next ones go, before bob's is even in the queue.
    async with running_engine(tmp_path, fake, slots=2, start=False) as engine:
        heavy = [await engine.enqueue(new_task(user_id=1, prompt=f"alice {i}")) for i in range(6)]
        light = await engine.enqueue(new_task(user_id=2, prompt="bob's only one"))
        await engine.start()
        done = await settle(engine, [*heavy, light])
    assert all(t.state is TaskState.DELIVERED for t in done)
    assert not [r for r in fake.creates() if r.status == 429], "the bot overran its slots"
    order = [str(r.body["prompt"]) for r in fake.accepted_creates() if isinstance(r.body, dict)]
    assert order.index("bob's only one") <= 2  # one of the first three, not after alice's six


async def test_concurrency_full_waits_instead_of_failing(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    fake.config.max_concurrent_tasks = 1  # the account is smaller than the bot believes
    async with running_engine(tmp_path, fake, slots=3, start=False) as engine:
        tasks = [await engine.enqueue(new_task(user_id=i)) for i in range(4)]
        await engine.start()  # all four at once: three go, the account takes one
        done = await settle(engine, tasks)
        histories = [await engine.store.task_events(t.id) for t in done]
    assert all(t.state is TaskState.DELIVERED for t in done)
    assert [r for r in fake.creates() if r.status == 429], "expected the fake to answer 1303"
    assert creates_per_task(fake) == {t.external_id: 1 for t in done}
    requeued = [
        e
        for events in histories
        for e in events[1:]
        if e.to_state is TaskState.QUEUED and "rate_limited" in e.detail
    ]
    assert requeued, "a 1303 should put the task back in the queue"


async def test_failures_and_refusals_end_with_a_reason_and_a_refund(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    async with running_engine(tmp_path, fake) as engine:
        failing = await engine.enqueue(new_task(1, "a boat FAILME"), quota=UNLIMITED)
        moderated = await engine.enqueue(new_task(2, "a boat MODERATEME"), quota=UNLIMITED)
        failed, rejected = await settle(engine, [failing, moderated])
        ledgers = [await engine.store.ledger_for_task(t.id) for t in (failed, rejected)]
    assert failed.state is TaskState.FAILED
    assert failed.failure_reason and "risk control" in failed.failure_reason
    assert rejected.state is TaskState.REJECTED
    assert rejected.failure_reason and "content policy" in rejected.failure_reason
    for ledger in ledgers:
        assert sorted(entry.kind for entry in ledger) == ["charge", "refund"]
        assert sum(entry.credits for entry in ledger) == 0


async def test_a_task_past_the_timeout_is_ended_and_refunded(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    fake.set_timings(processing_s=float("inf"))
    async with running_engine(tmp_path, fake, task_timeout=timedelta(seconds=100)) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.TIMED_OUT
    assert done.failure_reason and "not ready after" in done.failure_reason
    assert sum(entry.credits for entry in ledger) == 0


@pytest.mark.parametrize("fault", [FaultKind.SLOW, FaultKind.SLOW_NOT_CREATED])
async def test_an_ambiguous_create_is_reconciled_never_resent_blindly(
    tmp_path: Path, fake: FakeCometAPI, fault: FaultKind
) -> None:
    async with running_engine(tmp_path, fake, create_timeout_s=0.3) as engine:
        warm = await engine.enqueue(new_task(1, "a first task that proves lookups work"))
        await settle(engine, [warm])
        fake.inject(fault, route="create", times=1, delay_s=1.0)
        (done,) = await settle(engine, [await engine.enqueue(new_task(2))])
        events = [e.to_state for e in await engine.store.task_events(done.id)]
    assert TaskState.AMBIGUOUS in events
    assert done.state is TaskState.DELIVERED
    assert done.api_task_id in fake.tasks  # adopted under Kling's own id, not our external id
    assert creates_per_task(fake)[done.external_id] == 1  # the API got it exactly once


# CometAPI can't look tasks up by external_task_id (Kling can): with lookups off, a create
# whose answer was a 504/524 could never be proven absent, and used to fail after minutes.
@pytest.mark.parametrize("can_look_up", [False, True], ids=["CometAPI", "Kling"])
async def test_a_524_before_the_task_was_made_is_resent_and_delivered(
    tmp_path: Path, fake: FakeCometAPI, can_look_up: bool
) -> None:
    fake.config.lookup_by_external_id = can_look_up
    fake.inject(FaultKind.TIMEOUT_524, route="create")
    async with running_engine(tmp_path, fake) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        events = [e.to_state for e in await engine.store.task_events(done.id)]
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.DELIVERED
    assert TaskState.AMBIGUOUS not in events  # resent at once, not left to a reconcile
    assert [r.fault for r in fake.creates()] == [FaultKind.TIMEOUT_524, None]
    assert creates_per_task(fake) == {done.external_id: 1}  # exactly one task at the API
    assert list(fake.tasks) == [done.api_task_id]
    assert [e.kind for e in ledger] == ["charge"]


async def test_a_524_after_the_task_was_made_adopts_it_without_a_second_bill(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    fake.inject(FaultKind.TIMEOUT_524, route="create", after_handling=True)
    async with running_engine(tmp_path, fake) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.DELIVERED
    # The resend was refused as a duplicate: one task at the API, found by its external id.
    assert [(r.status, r.fault) for r in fake.creates()] == [
        (524, FaultKind.TIMEOUT_524),
        (400, None),
    ]
    assert creates_per_task(fake) == {done.external_id: 1}
    assert list(fake.tasks) == [done.api_task_id]
    assert [e.kind for e in ledger] == ["charge"]


async def test_a_524_after_the_task_was_made_that_no_lookup_finds_ends_with_a_refund(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    fake.config.lookup_by_external_id = False  # CometAPI
    fake.inject(FaultKind.TIMEOUT_524, route="create", after_handling=True)
    async with running_engine(tmp_path, fake) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.FAILED
    assert done.failure_reason and "could not find the task afterwards" in done.failure_reason
    assert sum(e.credits for e in ledger) == 0  # refunded
    # Never sent a third time: the duplicate refusal proved the task exists.
    assert [(r.status, r.fault) for r in fake.creates()] == [
        (524, FaultKind.TIMEOUT_524),
        (400, None),
    ]
    assert len(fake.tasks) == 1


async def test_resume_after_a_crash_mid_flight(tmp_path: Path, fake: FakeCometAPI) -> None:
    fake.set_timings(processing_s=float("inf"))  # they stay processing until the test says
    async with running_engine(tmp_path, fake) as engine:
        tasks = [await engine.enqueue(new_task(user_id=i)) for i in range(4)]
        await wait_for(engine, lambda ts: all(t.state is TaskState.PROCESSING for t in ts), tasks)
        at_api = [(await engine.store.get_task(t.id)).api_task_id for t in tasks]
    # The process is gone with four tasks at the API, which finish while it is down. Another
    # died right after writing `submitting`, before its create left the machine:
    for api_task_id in at_api:
        assert api_task_id is not None
        fake.finish(api_task_id)
    fake.set_timings(processing_s=0.15)
    store = await SqlStore.open(tmp_path / "bot.sqlite3")
    cut_off = await store.create_task(new_task(99, "caught mid-create"), now=tasks[0].created_at)
    await store.transition(cut_off.id, TaskState.SUBMITTING, now=cut_off.created_at)
    await store.close()
    async with running_engine(tmp_path, fake, start=False) as revived:
        found = await revived.start()
        done = await settle(revived, [*tasks, cut_off])
    assert found == {TaskState.PROCESSING: 4, TaskState.SUBMITTING: 1}
    assert all(t.state is TaskState.DELIVERED for t in done)
    # Nothing was sent twice; the cut-off task was proven absent, then sent once.
    assert creates_per_task(fake) == {t.external_id: 1 for t in done}


async def wait_for(
    engine: TaskEngine, condition: Callable[[list[TaskRecord]], bool], tasks: list[TaskRecord]
) -> None:
    async def poll() -> None:
        while True:
            if condition([await engine.store.get_task(t.id) for t in tasks]):
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), SETTLE_S)


async def test_a_held_task_waits_for_release_and_can_be_withdrawn(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    async with running_engine(tmp_path, fake) as engine:
        kept = await engine.enqueue(new_task(1, "answered"), quota=UNLIMITED, held=True)
        dropped = await engine.enqueue(new_task(2, "never answered"), quota=UNLIMITED, held=True)
        await engine.submitter.run_once()  # a pass while both are held submits nothing
        assert fake.creates() == []
        assert await engine.withdraw(dropped.id, "not answered in time")
        await engine.release(dropped.id)  # too late: a withdrawn task stays withdrawn
        await engine.release(kept.id)
        done, withdrawn = await settle(engine, [kept, dropped])
        ledger = await engine.store.ledger_for_task(withdrawn.id)
    assert done.state is TaskState.DELIVERED
    assert withdrawn.state is TaskState.REJECTED
    assert sum(entry.credits for entry in ledger) == 0
    assert [r.body["prompt"] for r in fake.accepted_creates() if isinstance(r.body, dict)] == [
        "answered"
    ]


async def test_a_task_still_held_at_start_is_withdrawn_with_a_refund_and_never_sent(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    # The process that accepted these died before it answered the member of the held one: the
    # database is left exactly as a kill -9 at that moment leaves it (the hold is on disk).
    async with running_engine(tmp_path, fake, start=False) as engine:
        answered = await engine.enqueue(new_task(1, "answered"), quota=UNLIMITED)
        unanswered = await engine.enqueue(new_task(2, "never answered"), quota=UNLIMITED, held=True)
    forgotten: list[int] = []

    async def forget(task_id: int) -> None:
        forgotten.append(task_id)

    async with running_engine(tmp_path, fake, forget_inputs=forget) as engine:
        done, withdrawn = await settle(engine, [answered, unanswered])
        ledger = await engine.store.ledger_for_task(withdrawn.id)
        events = await engine.store.task_events(withdrawn.id)
    assert done.state is TaskState.DELIVERED
    assert withdrawn.state is TaskState.REJECTED and not withdrawn.is_held
    assert withdrawn.failure_reason == UNCONFIRMED_REASON
    assert [e.kind for e in ledger] == ["charge", "refund"]
    assert sum(e.credits for e in ledger) == 0
    assert [e.to_state for e in events] == [TaskState.QUEUED, TaskState.REJECTED]
    assert forgotten == [withdrawn.id]
    assert creates_per_task(fake) == {answered.external_id: 1}


class CrashingDeliverer:
    """A destination with a bug: it raises something that is not a DeliveryError."""

    def __init__(self) -> None:
        self.calls = 0

    async def deliver(self, task: TaskRecord, result: object) -> int | None:
        self.calls += 1
        raise RuntimeError("a bug in the destination")


async def test_a_crashing_destination_ends_the_task_instead_of_retrying_forever(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    crashing = CrashingDeliverer()
    async with running_engine(tmp_path, fake, deliverer=crashing) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.UNDELIVERABLE
    assert done.failure_reason
    assert "unexpected error in the bot (RuntimeError)" in done.failure_reason
    assert crashing.calls == CourierSettings(Path(), 0).attempts
    assert sum(entry.credits for entry in ledger) == 0


async def test_a_disk_the_bot_cannot_write_is_retried_then_refunded_with_a_sentence(
    tmp_path: Path, fake: FakeCometAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """storage.media_dir unusable after start: the paid video can't be kept. Each try says so
    in one line naming the key; then the task ends with a refund, never stuck in delivering."""
    (tmp_path / "results").write_bytes(b"")  # a file where the results folder should be
    caplog.set_level(logging.INFO, logger="bot")
    async with running_engine(tmp_path, fake) as engine:
        (done,) = await settle(engine, [await engine.enqueue(new_task(1), quota=UNLIMITED)])
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.UNDELIVERABLE
    assert done.failure_reason == (
        "The video was made but could not be posted: the bot could not save it on its disk "
        "(File exists); an admin needs to check storage.media_dir"
    )
    assert sum(entry.credits for entry in ledger) == 0
    warnings = [r for r in caplog.records if "can't save the result" in r.getMessage()]
    assert len(warnings) == CourierSettings(Path(), 0).attempts  # retried, then given up
    assert f"task_id={done.id}" in warnings[0].getMessage()
    assert "check storage.media_dir" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.exc_text]  # no traceback


async def test_queries_never_exceed_the_tracker_pace(tmp_path: Path, fake: FakeCometAPI) -> None:
    """However many polls are due at once, each query waits for its own slot, 1/20 s apart."""
    clock = StandingClock()  # only the reserved slots count
    store = await SqlStore.open(tmp_path / "pace.sqlite3")
    try:
        async with aiohttp.ClientSession() as session:
            client = OmniClient(session, fake.base_url, fake.config.api_key, query_retry=FAST_RETRY)
            tracker = Tracker(
                store,
                client,
                clock=clock,
                on_changed=lambda task: None,
                on_finished=lambda task: None,
                settings=TrackerSettings(max_queries_per_s=20),
                pace=QueryPace(20, clock),
            )

            async def ask(n: int) -> None:
                with contextlib.suppress(ApiError):  # unknown ids: only the timing matters
                    await tracker._paced_query(f"unknown-{n}")

            await asyncio.gather(*(ask(n) for n in range(10)))
    finally:
        await store.close()
    assert len([r for r in fake.requests if r.method == "GET"]) == 10
    # The first leaves at once; the nine others each wait for the next 1/20 s slot.
    assert sorted(clock.sleeps) == pytest.approx([0.05 * n for n in range(1, 10)])

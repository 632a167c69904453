"""The engine's loops under faults never strand a task: a restart, a lost or crashing create, a
failed write or an unreadable input each end in a delivery or an ending with a reason, against
the fake CometAPI and real SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.domain.delivery import DeliveryError, ResultFile
from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.domain.request import OmniRequest
from bot.engine.courier import FileDeliverer
from bot.engine.task_engine import TaskEngine
from bot.fakes.comet import FakeCometAPI, FakeCometConfig, FaultKind
from bot.omni.client import CreatedTask, OmniClient, TaskSnapshot
from bot.store.sql_store import SqlStore
from tests.helpers.engine import UNLIMITED, creates_per_task, new_task, running_engine

SETTLE_S = 15  # a safety net against hangs, not a performance assertion


@pytest.fixture
async def comet() -> AsyncIterator[FakeCometAPI]:
    async with FakeCometAPI(FakeCometConfig(submitted_s=0.05, processing_s=0.15)) as server:
        yield server


class BuggyCreateClient(OmniClient):
    """The real client, with a bug that crashes every create of a prompt saying CRASHME."""

    async def create(
        self, request: OmniRequest, *, external_task_id: str | None = None
    ) -> CreatedTask:
        if "CRASHME" in request.prompt:
            raise RuntimeError("a bug while building the create body")
        return await super().create(request, external_task_id=external_task_id)


class LockedOnceStore(SqlStore):
    """A real store whose first write of `submitted` fails as a busy database would."""

    failures_left = 1

    async def transition(self, task_id: int, to: TaskState, **kwargs: Any) -> TaskRecord:
        if to is TaskState.SUBMITTED and self.failures_left > 0:
            self.failures_left -= 1
            raise sqlite3.OperationalError("database is locked")
        return await super().transition(task_id, to, **kwargs)


async def settle(engine: TaskEngine, *tasks: TaskRecord) -> list[TaskRecord]:
    await asyncio.wait_for(engine.wait_until_settled([t.id for t in tasks]), SETTLE_S)
    return [await engine.store.get_task(t.id) for t in tasks]


async def wait_for_state(engine: TaskEngine, task: TaskRecord, *states: TaskState) -> TaskRecord:
    async def poll() -> TaskRecord:
        while (current := await engine.store.get_task(task.id)).state not in states:
            await asyncio.sleep(0.01)
        return current

    return await asyncio.wait_for(poll(), SETTLE_S)


# -- tracker -----------------------------------------------------------------------------------


async def test_a_video_finished_while_the_bot_was_down_is_delivered_not_timed_out(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    comet.set_timings(processing_s=0.3)
    async with running_engine(tmp_path, comet) as engine:
        task = await engine.enqueue(new_task(1), quota=UNLIMITED)
        await wait_for_state(engine, task, TaskState.SUBMITTED, TaskState.PROCESSING)
    # The bot is down longer than the task timeout; meanwhile the API finishes the video.
    await asyncio.sleep(0.6)
    async with running_engine(tmp_path, comet, task_timeout=timedelta(seconds=40)) as revived:
        (done,) = await settle(revived, task)
        ledger = await revived.store.ledger_for_task(done.id)
    assert done.state is TaskState.DELIVERED, done.failure_reason
    assert sum(entry.credits for entry in ledger) == 1  # paid for, and kept
    assert creates_per_task(comet) == {done.external_id: 1}


async def test_a_task_still_running_past_the_timeout_is_still_timed_out(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    comet.set_timings(processing_s=float("inf"))
    async with running_engine(tmp_path, comet, task_timeout=timedelta(seconds=60)) as engine:
        (done,) = await settle(engine, await engine.enqueue(new_task(1), quota=UNLIMITED))
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.state is TaskState.TIMED_OUT
    assert sum(entry.credits for entry in ledger) == 0


async def test_a_create_that_crashes_in_the_bot_every_time_ends_instead_of_looping(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    async with running_engine(tmp_path, comet, client_class=BuggyCreateClient) as engine:
        warm = await engine.enqueue(new_task(1, "a first task that proves lookups work"))
        await settle(engine, warm)
        (done,) = await settle(
            engine, await engine.enqueue(new_task(2, "CRASHME"), quota=UNLIMITED)
        )
        ledger = await engine.store.ledger_for_task(done.id)
        events = await engine.store.task_events(done.id)
    assert done.state is TaskState.FAILED
    assert done.failure_reason
    assert sum(entry.credits for entry in ledger) == 0
    assert done.external_id not in creates_per_task(comet)
    resends = [
        e for e in events if e.from_state is TaskState.AMBIGUOUS and e.to_state is TaskState.QUEUED
    ]
    assert len(resends) == 1  # sent again once, as the README promises, then given up


async def test_the_tracker_forgets_a_task_the_api_lost(tmp_path: Path, comet: FakeCometAPI) -> None:
    comet.set_timings(processing_s=float("inf"))
    async with running_engine(tmp_path, comet) as engine:
        task = await engine.enqueue(new_task(1), quota=UNLIMITED)
        task = await wait_for_state(engine, task, TaskState.PROCESSING)
        assert task.api_task_id is not None
        del comet.tasks[task.api_task_id]  # the API forgets it: every query is "not found"
        (done,) = await settle(engine, task)
        assert done.state is TaskState.FAILED
        assert engine.tracker._not_found == {}


async def test_the_tracker_forgets_a_create_it_could_not_reconcile(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    comet.config.lookup_by_external_id = False  # CometAPI: lookups by external id never work
    comet.inject(FaultKind.SLOW_NOT_CREATED, route="create", times=1, delay_s=1.0)
    async with running_engine(tmp_path, comet, create_timeout_s=0.3) as engine:
        (done,) = await settle(engine, await engine.enqueue(new_task(1), quota=UNLIMITED))
        assert done.state is TaskState.FAILED
        assert engine.tracker._lookups.tries == {}


# -- courier -----------------------------------------------------------------------------------

POLL_SCALE = 0.005  # running_engine's PollPolicy scale: one "second" of the courier's waits


class DiscordOutage:
    """A destination that can't be reached for `outage_s` (scaled), then works."""

    def __init__(self, out: Path, outage_s: float) -> None:
        self._files = FileDeliverer(out)
        self._outage_s = outage_s * POLL_SCALE
        self._until: float | None = None
        self.calls = 0

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        self.calls += 1
        now = asyncio.get_running_loop().time()
        if self._until is None:
            self._until = now + self._outage_s
        if now < self._until:
            raise DeliveryError(
                "Discord could not be reached (ClientConnectorError)", permanent=False
            )
        return await self._files.deliver(task, result)


async def test_a_minute_without_discord_does_not_lose_a_finished_video(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    outage = DiscordOutage(tmp_path / "out", outage_s=60)
    async with running_engine(tmp_path, comet, deliverer=outage) as engine:
        (done,) = await settle(engine, await engine.enqueue(new_task(1), quota=UNLIMITED))
    assert done.state is TaskState.DELIVERED, done.failure_reason
    assert outage.calls > 2


# -- submitter -------------------------------------------------------------------------------


async def settled_in_time(engine: TaskEngine, task: TaskRecord) -> TaskRecord:
    """The task once it ended; a clear failure naming its state if it is stuck."""
    try:
        (done,) = await settle(engine, task)  # SETTLE_S: a hang guard, not a speed limit
    except TimeoutError:
        stuck = await engine.store.get_task(task.id)
        pytest.fail(f"the task is stuck in {stuck.state.value}")
    return done


async def test_a_failed_write_after_the_create_does_not_strand_the_task(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    async with running_engine(tmp_path, comet, store_class=LockedOnceStore) as engine:
        done = await settled_in_time(engine, await engine.enqueue(new_task(1), quota=UNLIMITED))
    assert done.state is TaskState.DELIVERED
    assert creates_per_task(comet) == {done.external_id: 1}


async def unreadable_inputs(request: OmniRequest) -> OmniRequest:
    """A kept input the bot may not read (MediaStore._base64_of lets PermissionError through)."""
    raise PermissionError(13, "Permission denied", "media/inputs/1/image_1.png")


async def test_an_input_that_cannot_be_read_does_not_strand_the_task(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    async with running_engine(tmp_path, comet, prepare=unreadable_inputs) as engine:
        done = await settled_in_time(engine, await engine.enqueue(new_task(1), quota=UNLIMITED))
        ledger = await engine.store.ledger_for_task(done.id)
    assert done.is_terminal and done.failure_reason
    assert sum(entry.credits for entry in ledger) == 0
    assert comet.creates() == []


class LaggingLookupClient(OmniClient):
    """The real client behind a gateway that doesn't know a timed-out create yet at first."""

    missed: ClassVar[set[str]] = set()  # external ids already queried once

    async def query(self, task_id: str) -> TaskSnapshot:
        if task_id.startswith("kob-") and task_id not in self.missed:
            type(self).missed.add(task_id)
            raise ApiError(ApiErrorKind.NOT_FOUND, "task_not_exist")
        return await super().query(task_id)


async def test_a_create_that_lands_after_the_first_lookup_is_adopted_not_resent(
    tmp_path: Path, comet: FakeCometAPI
) -> None:
    LaggingLookupClient.missed = set()
    async with running_engine(
        tmp_path, comet, create_timeout_s=0.3, client_class=LaggingLookupClient
    ) as engine:
        warm = await engine.enqueue(new_task(1), quota=UNLIMITED)
        await settled_in_time(engine, warm)
        LaggingLookupClient.missed.add(warm.external_id)  # lookups are proven to work
        comet.inject(FaultKind.SLOW, route="create", times=1, delay_s=1.0)  # created, then late
        done = await settled_in_time(engine, await engine.enqueue(new_task(2), quota=UNLIMITED))
        events = [e.to_state for e in await engine.store.task_events(done.id)]
    assert done.state is TaskState.DELIVERED
    assert TaskState.AMBIGUOUS in events
    assert creates_per_task(comet)[done.external_id] == 1  # looked up twice, never sent twice

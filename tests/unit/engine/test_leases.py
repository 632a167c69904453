"""Leases: which process works on which task, and another taking over when one dies.

The store's claims are checked directly, on both backends; the takeover end to end runs two
engines on one database as two processes share a PostgreSQL database (on SQLite the store is
told it is shared), the first stopped without a goodbye as a SIGKILL would stop it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.domain.errors import IllegalTransition
from bot.domain.lifecycle import TaskState
from bot.domain.records import Lease, NewTask, QuotaCheck
from bot.domain.request import make_request
from bot.engine.clock import ScaledClock
from bot.engine.courier import FileDeliverer
from bot.engine.task_engine import EngineSettings, TaskEngine
from bot.engine.tracker import TrackerSettings
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from bot.omni.client import OmniClient
from bot.store.sql_store import SqlStore
from tests.helpers.engine import FAST_RETRY, FAST_SCALE
from tests.helpers.waits import task_reaches

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNLIMITED = QuotaCheck(limit=None, window="day", window_start=T0, resets_at=T0 + timedelta(days=1))


def new_task(user_id: int, prompt: str = "a lantern drifting downstream") -> NewTask:
    request = make_request({"prompt": prompt, "aspect_ratio": "16:9", "duration_s": 5})
    return NewTask(
        origin="discord", request=request, cost=1, guild_id=1, channel_id=2, user_id=user_id
    )


def lease(owner: str, seconds: float = 10, *, at: datetime = T0) -> Lease:
    return Lease(owner, at + timedelta(seconds=seconds))


async def at_state(store: SqlStore, user_id: int, *states: TaskState) -> int:
    """A task walked to `states` in turn; its id."""
    task = await store.create_task(new_task(user_id), now=T0)
    for state in states:
        await store.transition(task.id, state, now=T0)
    return task.id


async def test_a_claim_takes_unfinished_tasks_past_the_queue_and_held_ones(
    store: SqlStore,
) -> None:
    processing = await at_state(
        store, 1, TaskState.SUBMITTING, TaskState.SUBMITTED, TaskState.PROCESSING
    )
    submitting = await at_state(store, 2, TaskState.SUBMITTING)
    waiting = await at_state(store, 3)  # queued and released: any process may send it
    held = (await store.create_task(new_task(4), now=T0, held=True)).id
    failed = await at_state(store, 5, TaskState.SUBMITTING, TaskState.FAILED)

    claimed = await store.claim_orphans(lease("b"), now=T0, everything=True)

    assert [t.id for t in claimed] == [processing, submitting, held]
    assert waiting not in [t.id for t in claimed] and failed not in [t.id for t in claimed]


async def test_a_live_lease_is_left_alone_and_an_expired_one_taken(store: SqlStore) -> None:
    theirs = await at_state(store, 1)
    started = await store.start_submission(theirs, slots=5, lease=lease("a", 6), now=T0)
    assert started is not None and started.state is TaskState.SUBMITTING

    assert await store.claim_orphans(lease("b"), now=T0 + timedelta(seconds=5)) == []
    later = T0 + timedelta(seconds=7)
    taken = await store.claim_orphans(lease("b", at=later), now=later)
    assert [t.id for t in taken] == [theirs]
    # Taken: the first owner's renewal no longer reaches it, the new owner's does.
    assert await store.renew_leases(lease("a", 60)) == 0
    assert await store.renew_leases(lease("b", 60, at=later)) == 1


async def test_a_renewed_lease_is_not_taken(store: SqlStore) -> None:
    task_id = await at_state(store, 1)
    await store.start_submission(task_id, slots=5, lease=lease("a", 6), now=T0)
    assert await store.renew_leases(lease("a", 6, at=T0 + timedelta(seconds=5))) == 1
    at = T0 + timedelta(seconds=8)
    assert await store.claim_orphans(lease("b", at=at), now=at) == []


async def test_dropped_leases_are_taken_at_once(store: SqlStore) -> None:
    kept = await at_state(store, 1)
    given_up = await at_state(store, 2)
    for task_id in (kept, given_up):
        await store.start_submission(task_id, slots=5, lease=lease("a", 60), now=T0)
    assert await store.drop_leases("a", [given_up]) == 1
    assert [t.id for t in await store.claim_orphans(lease("b"), now=T0)] == [given_up]
    assert await store.drop_leases("a") == 1  # a clean stop gives up the rest
    assert [t.id for t in await store.claim_orphans(lease("b"), now=T0)] == [kept]


async def test_a_claim_never_takes_the_claimers_own_tasks(store: SqlStore) -> None:
    task_id = await at_state(store, 1)
    await store.start_submission(task_id, slots=5, lease=lease("a", 1), now=T0)
    later = T0 + timedelta(seconds=5)
    # Its own lease ran out (the process stalled) but it is still working on the task.
    assert await store.claim_orphans(lease("a", at=later), now=later) == []


async def test_submissions_never_exceed_the_accounts_slots(store: SqlStore) -> None:
    first, second = await at_state(store, 1), await at_state(store, 2)
    assert await store.start_submission(first, slots=1, lease=lease("a"), now=T0) is not None
    # The one slot is taken (by any process): the second waits in the queue.
    assert await store.start_submission(second, slots=1, lease=lease("b"), now=T0) is None
    assert (await store.get_task(second)).state is TaskState.QUEUED
    await store.transition(first, TaskState.AMBIGUOUS, now=T0)
    await store.requeue(first, not_before=None, now=T0)  # back in line: the slot is free
    assert await store.start_submission(second, slots=1, lease=lease("b"), now=T0) is not None
    with pytest.raises(IllegalTransition):
        await store.start_submission(second, slots=5, lease=lease("b"), now=T0)


async def test_concurrent_submissions_from_two_stores_fill_the_slots_exactly(
    store_location: Path | str,
) -> None:
    # Two stores on one database: two processes, each with its own connections.
    first, second = await SqlStore.open(store_location), await SqlStore.open(store_location)
    try:
        ids = [await at_state(first, user) for user in range(10)]
        results = await asyncio.gather(
            *(
                (first if i % 2 else second).start_submission(
                    task_id, slots=3, lease=lease(f"p{i % 2}"), now=T0
                )
                for i, task_id in enumerate(ids)
            )
        )
        assert sum(r is not None for r in results) == 3
        assert await first.count_in_states([TaskState.SUBMITTING]) == 3
    finally:
        await first.close()
        await second.close()


class SharedStore(SqlStore):
    """The store as a process on a shared database sees it (SQLite too, for this test)."""

    @property
    def shared(self) -> bool:
        return True


class KilledStore(SharedStore):
    """A process killed with SIGKILL says no goodbye: its leases are not dropped."""

    async def drop_leases(self, owner: str, task_ids: object = None) -> int:
        return 0


CLOCK = ScaledClock(FAST_SCALE)  # both "processes" on one time
LEASE = timedelta(seconds=120)  # 0.6 s of wall time


def engine_on(
    store: SqlStore,
    client: OmniClient,
    tmp_path: Path,
    owner: str,
    *,
    heartbeat_s: float = TrackerSettings().heartbeat_s,
) -> TaskEngine:
    return TaskEngine(
        store,
        client,
        FileDeliverer(tmp_path / "out"),
        EngineSettings(
            max_concurrent_tasks=5,
            results_dir=tmp_path / f"results-{owner}",
            max_result_bytes=50 * 1024 * 1024,
            tracker=TrackerSettings(heartbeat_s=heartbeat_s),
            stop_grace_s=0.2,
            lease=LEASE,
        ),
        clock=CLOCK,
        owner=owner,
    )


async def test_another_process_takes_over_a_killed_ones_tasks_once_each(
    tmp_path: Path, store_location: Path | str
) -> None:
    path = store_location
    retry = FAST_RETRY
    config = FakeCometConfig(submitted_s=0.05, processing_s=float("inf"))
    async with FakeCometAPI(config) as fake, aiohttp.ClientSession() as session:
        client = OmniClient(
            session, fake.base_url, fake.config.api_key, create_retry=retry, query_retry=retry
        )
        killed = await KilledStore.open(path)
        first = engine_on(killed, client, tmp_path, "first")
        await first.start()
        tasks = [await first.enqueue(new_task(user), quota=UNLIMITED) for user in range(3)]
        held = await first.enqueue(new_task(9, "never answered"), quota=UNLIMITED, held=True)
        for task in tasks:
            await task_reaches(killed, task.id, TaskState.PROCESSING)
        await first.stop()  # as a SIGKILL would: its tasks keep its (now running out) leases
        await killed.close()

        survivor_store = await SharedStore.open(path)
        survivor = engine_on(survivor_store, client, tmp_path, "survivor")
        try:
            await survivor.start()  # takes what ran out already, the rest as it runs out
            for task in tasks:
                fake.finish(str((await survivor_store.get_task(task.id)).api_task_id))
            done = [await task_reaches(survivor_store, t.id, TaskState.DELIVERED) for t in tasks]
            withdrawn = await task_reaches(survivor_store, held.id, TaskState.REJECTED)
            ledger = await survivor_store.ledger_for_task(withdrawn.id)
        finally:
            await survivor.stop()
            await survivor_store.close()
    creates = Counter(
        str(r.body["external_task_id"]) for r in fake.accepted_creates() if isinstance(r.body, dict)
    )
    assert creates == {t.external_id: 1 for t in done}
    assert len(list((tmp_path / "out").iterdir())) == len(tasks)
    assert sum(entry.credits for entry in ledger) == 0  # the unanswered one was refunded


async def test_a_waiting_process_wakes_when_another_queues_a_task(
    tmp_path: Path, postgresql_url: str
) -> None:
    # The waiting process looks at the queue by itself only every twelve days: only a NOTIFY
    # from the other process can wake it in time.
    retry = FAST_RETRY
    async with (
        FakeCometAPI(FakeCometConfig(submitted_s=0.05, processing_s=0.1)) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = OmniClient(
            session, fake.base_url, fake.config.api_key, create_retry=retry, query_retry=retry
        )
        waiting_store = await SqlStore.open(postgresql_url)
        # A heartbeat of twelve days on the compressed clock: an hour and a half of wall time.
        waiting = engine_on(waiting_store, client, tmp_path, "waiting", heartbeat_s=10**6)
        other = await SqlStore.open(postgresql_url)
        try:
            await waiting.start()
            await waiting.submitter.run_once()  # its pass at start is over: now it waits
            queued = await other.create_task(new_task(1), now=CLOCK.now(), quota=UNLIMITED)
            done = await task_reaches(waiting_store, queued.id, TaskState.DELIVERED)
        finally:
            await waiting.stop()
            await waiting_store.close()
            await other.close()
    assert done.attempts == 0 and len(fake.accepted_creates()) == 1

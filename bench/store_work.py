"""Part 1 of `bench.processes`: the engine's store work per task, in separate OS processes.

Each process (spawned by `multiprocessing`, so it shares nothing with the others but the
database) opens its own `SqlStore` and runs `concurrency` members' tasks at a time through every
write the bot makes for a `/video`, in the order it makes them, with no Discord and no API:

    create_task (quota terms resolved and charged, held, leased) → save_interaction_token →
    release_task → start_submission (the account's slot count, under its lock) → SUBMITTED →
    PROCESSING → `polls_per_task` × record_poll → SUCCEEDED → DELIVERING → DELIVERED →
    final_status_shown

and, beside them as the engine does on a shared database (PostgreSQL), renews its leases and
looks for orphans every lease/3 seconds. SQLite is one process by design (a lock file keeps a
second one out), and the engine runs no lease loop on it. Each process works on the servers of
its own shards (two of them, 50 members each), as `kling-bot run` processes do; the account's
slots are shared by all. The processes start together (a barrier once every store is open) and
stop taking new tasks after `seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import random
import time
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.ack_latency import busy_jiffies
from bench.common import summary
from bot.domain.lifecycle import TaskState
from bot.domain.records import InteractionToken, Lease, NewTask, QuotaTerms
from bot.domain.request import make_request
from bot.store.sql_store import SqlStore

GUILDS_PER_PROCESS = 2
MEMBERS_PER_GUILD = 50
SLOTS = 1000  # never the limit here: the count under the account's lock is what is measured
# A limit high enough never to refuse, so that the charge path reads the member's ledger.
TERMS = QuotaTerms(
    config_limit=1_000_000,
    config_window="day",
    max_in_flight_per_member=100,
    max_in_flight_per_server=1000,
)
TIMED = ("create_task", "start_submission", "lease_loop")
CALLS_PER_TASK = 10  # the store calls of one task, its polls aside


@dataclass(frozen=True)
class Plan:
    """What one process does."""

    location: str
    index: int
    seconds: float
    concurrency: int
    lease_s: float
    polls_per_task: int
    seed: int


def worker(plan: Plan, barrier: Any, results: Any) -> None:
    """A child process's whole life: its figures go back through `results`."""
    results.put(asyncio.run(_work(plan, barrier)))


async def _work(plan: Plan, barrier: Any) -> dict[str, Any]:
    store = await SqlStore.open(plan.location)
    try:
        await asyncio.to_thread(barrier.wait, 120)  # every process open: start together
        return await Worker(store, plan).run()
    finally:
        await store.close()


class Worker:
    """One process's members making videos, and its lease loop."""

    def __init__(self, store: SqlStore, plan: Plan) -> None:
        self.store = store
        self.plan = plan
        self.owner = f"bench:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rng = random.Random(plan.seed * 1000 + plan.index)
        first_guild = (plan.index + 1) * 1_000_000
        self.guilds = [first_guild + g for g in range(GUILDS_PER_PROCESS)]
        self.request = make_request({"prompt": "a paper boat in the rain", "aspect_ratio": "16:9"})
        self.latencies: dict[str, list[float]] = {name: [] for name in TIMED}
        self.ops = 0
        self.done = 0
        self._messages = iter(range((plan.index + 1) * 10**9, (plan.index + 2) * 10**9))

    def lease(self) -> Lease:
        """This process's claim, from now."""
        return Lease(self.owner, _now() + timedelta(seconds=self.plan.lease_s))

    async def run(self) -> dict[str, Any]:
        """Work for `seconds`; the figures."""
        started = time.perf_counter()
        deadline = started + self.plan.seconds
        leases = asyncio.create_task(self._keep_leases()) if self.store.shared else None
        await asyncio.gather(*(self._member(deadline) for _ in range(self.plan.concurrency)))
        elapsed = time.perf_counter() - started
        if leases is not None:
            leases.cancel()
        return {
            "tasks": self.done,
            "store_calls": self.ops,
            "elapsed_s": elapsed,
            "latencies_s": self.latencies,
        }

    async def _timed(self, name: str, call: Awaitable[Any]) -> Any:
        before = time.perf_counter()
        result = await call
        self.latencies[name].append(time.perf_counter() - before)
        return result

    async def _member(self, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await self._one_task()
            self.done += 1

    async def _one_task(self) -> None:
        store, rng, polls = self.store, self.rng, self.plan.polls_per_task
        guild = rng.choice(self.guilds)
        new = NewTask(
            origin="discord",
            request=self.request,
            cost=1,
            guild_id=guild,
            channel_id=guild + 1,
            user_id=guild + 100 + rng.randrange(MEMBERS_PER_GUILD),
            user_name="bench",
        )
        create = store.create_task(new, now=_now(), quota=TERMS, held=True, lease=self.lease())
        task_id = (await self._timed("create_task", create)).id
        token = InteractionToken(1, "token", _now() + timedelta(minutes=15))
        await store.save_interaction_token(task_id, token)
        await store.release_task(task_id, now=_now(), status_message_id=next(self._messages))
        submit = store.start_submission(task_id, slots=SLOTS, lease=self.lease(), now=_now())
        if await self._timed("start_submission", submit) is None:
            raise RuntimeError("start_submission found no free slot: SLOTS is too low")
        await self._move(task_id, TaskState.SUBMITTED, api_task_id=f"api-{task_id}")
        await self._move(task_id, TaskState.PROCESSING)
        for _ in range(polls):
            await store.record_poll(task_id, now=_now(), progress_pct=50)
        await self._move(task_id, TaskState.SUCCEEDED, result_url=f"https://cdn.invalid/{task_id}")
        await self._move(task_id, TaskState.DELIVERING)
        await self._move(
            task_id,
            TaskState.DELIVERED,
            delivery_message_id=next(self._messages),
            result_path=f"results/{task_id}.mp4",
            result_size_bytes=4_000_000,
        )
        await store.final_status_shown(task_id)
        self.ops += CALLS_PER_TASK + polls

    async def _move(self, task_id: int, to: TaskState, **fields: Any) -> None:
        await self.store.transition(task_id, to, now=_now(), **fields)

    async def _keep_leases(self) -> None:
        period_s = self.plan.lease_s / 3
        while True:
            await asyncio.sleep(period_s)
            before = time.perf_counter()
            await self.store.renew_leases(self.lease())
            await self.store.claim_orphans(self.lease(), now=_now())
            self.latencies["lease_loop"].append(time.perf_counter() - before)


def _next_report(results: Any, children: list[Any]) -> dict[str, Any]:
    """The next child's figures; an error when a child ended without giving them."""
    while True:
        with contextlib.suppress(queue.Empty):
            report: dict[str, Any] = results.get(timeout=1)
            return report
        failed = [c.name for c in children if c.exitcode not in (None, 0)]
        if failed:
            raise RuntimeError(f"{', '.join(failed)} failed (its traceback is above)")


def _now() -> datetime:
    return datetime.now(UTC)


def run_processes(location: str, processes: int, plan: Plan) -> dict[str, Any]:
    """`processes` workers on one database at once; tasks/s overall and the latencies."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited
    barrier = context.Barrier(processes + 1)  # and this process, which starts the CPU clock
    results = context.Queue()
    children = [
        context.Process(
            target=worker,
            args=(Plan(**{**asdict(plan), "index": i, "location": location}), barrier, results),
            name=f"store-work-{i}",
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    try:
        barrier.wait(120)
        cpu_before = busy_jiffies()
        reports = [_next_report(results, children) for _ in children]
        cpu_after = busy_jiffies()
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()  # our own child, by its handle
    elapsed = max(r["elapsed_s"] for r in reports)
    cpus = os.cpu_count() or 1
    tasks = sum(r["tasks"] for r in reports)
    merged = {name: [v for r in reports for v in r["latencies_s"][name]] for name in TIMED}
    return {
        "processes": processes,
        "tasks": tasks,
        "tasks_per_s": round(tasks / elapsed, 1),
        "tasks_per_s_by_process": [round(r["tasks"] / r["elapsed_s"], 1) for r in reports],
        "store_calls_per_s": round(sum(r["store_calls"] for r in reports) / elapsed, 1),
        "machine_busy_cores": round(
            (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1]) * cpus, 2
        ),
        "latency_ms": {
            name: summary([v * 1000 for v in values], digits=2)
            for name, values in merged.items()
            if values
        },
    }

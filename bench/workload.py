"""A seeded workload of video tasks, run by the engine or by a naive poller against the fake.

Every run gets a fresh `FakeCometAPI` in this process and returns what happened to each task from
the fake's own records (when it was created, when it ended, how often it was asked about) plus
when the poller noticed the end. Durations are drawn in "model seconds" (the time a task takes at
the real API) and compressed by `scale` at the fake; the engine keeps its constants in model
seconds and runs on a `ScaledClock(scale)`, so the whole system runs `1/scale` times faster than
life.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.naive import NaivePoller
from bot.domain.callback_tokens import CallbackSigner
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord
from bot.domain.request import OmniRequest, make_request
from bot.engine.clock import ScaledClock
from bot.engine.courier import FileDeliverer
from bot.engine.task_engine import EngineSettings, TaskEngine
from bot.engine.tracker import TrackerSettings
from bot.fakes.comet import CREATE_PATH, FakeCometAPI, FakeCometConfig
from bot.http.callbacks import CALLBACK_PATH, CallbackReceiver
from bot.omni.client import OmniClient
from bot.store.sql_store import SqlStore

log = logging.getLogger("bench")

# The moment the engine knows a slot is free: the tracker writes one of these.
NOTICED_STATES = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.TIMED_OUT})
# A run is over when every task is here (delivered, or ended without a video).
_END_STATES = frozenset(s for s in TaskState if s.is_terminal)
_MEMBERS = 10  # tasks come from a few members, so the fair queue does real work
_RUN_TIMEOUT_S = 300  # a safety net against a hang, not a performance limit


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of the workload and how long the fake takes over it, in model seconds."""

    external_id: str
    user_id: int
    submitted_s: float  # T1: submitted -> processing
    processing_s: float  # T2: processing -> succeed

    @property
    def duration_s(self) -> float:
        """Model seconds from create to completion at the fake."""
        return self.submitted_s + self.processing_s


WORKLOAD_DURATIONS = "lognormal, median 150 model s, sigma 0.35, clipped to 30-900 s"


def draw_workload(
    count: int, seed: int, *, median_s: float = 150.0, sigma: float = 0.35
) -> list[TaskSpec]:
    """`count` tasks with lognormal durations around `median_s` (published timings: a 5 s std
    video takes about 2-3 min; sigma 0.35 puts 80% of them between about 95 and 235 s)."""
    rng = random.Random(seed)
    specs = []
    for number in range(count):
        total_s = min(900.0, max(30.0, rng.lognormvariate(math.log(median_s), sigma)))
        submitted_s = rng.uniform(2.0, 20.0)  # Kling: "submitted" lasts 0-30 s, usually short
        specs.append(
            TaskSpec(
                external_id=f"bench-{seed}-{number:04d}",
                user_id=1000 + number % _MEMBERS,
                submitted_s=submitted_s,
                processing_s=total_s - submitted_s,
            )
        )
    return specs


UNIFORM_DURATIONS = "submitted 2-12 model s, then processing 30-90 model s (uniform; issue #17)"


def draw_uniform_workload(count: int, seed: int) -> list[TaskSpec]:
    """`count` tasks queued 2-12 s at the API then rendering 30-90 s, as issue #17 measured."""
    rng = random.Random(seed)
    return [
        TaskSpec(
            external_id=f"bench-{seed}-{number:04d}",
            user_id=1000 + number % _MEMBERS,
            submitted_s=rng.uniform(2.0, 12.0),
            processing_s=rng.uniform(30.0, 90.0),
        )
        for number in range(count)
    ]


def bench_request() -> OmniRequest:
    """The request every workload task sends: a 5 s std text-to-video (one completion class)."""
    return make_request({"prompt": "a paper boat in the rain", "aspect_ratio": "16:9"})


def engine_settings(
    work_dir: Path,
    *,
    slots: int,
    timeout_model_s: float = 30 * 60,
    callbacks: bool = False,
) -> EngineSettings:
    """The engine's defaults, in model seconds: the engine's `ScaledClock` compresses them (the
    tracker's 10 queries a second too, which stay far above what a few live tasks need)."""
    timeout = timedelta(seconds=timeout_model_s)
    return EngineSettings(
        max_concurrent_tasks=slots,
        results_dir=work_dir / "results",
        max_result_bytes=50 * 1024 * 1024,
        task_timeout=timeout,
        tracker=TrackerSettings(task_timeout=timeout, callbacks=callbacks),
        stop_grace_s=1.0,
    )


def fake_config(*, slots: int, seed: int, clock: ScaledClock | None = None) -> FakeCometConfig:
    """A fake account with `slots` slots whose tasks run until `FakeTimings` times them; it tells
    times on `clock` (the engine's), if given."""
    return FakeCometConfig(
        max_concurrent_tasks=slots,
        submitted_s=math.inf,
        processing_s=math.inf,
        seed=seed,
        clock=clock,
    )


class FakeTimings:
    """Gives each task at the fake the T1/T2 of its workload entry, keyed by external id.

    It runs as an aiohttp trace hook of the poller's own session: the fake has made the task by
    the time the create's response headers arrive, and nobody can ask about the task before the
    create returns, so the timings are in place before the first query. Being keyed by external
    id, the same task takes the same time whichever poller runs it, in whatever order.
    """

    def __init__(self, fake: FakeCometAPI, specs: list[TaskSpec], scale: float) -> None:
        self._fake = fake
        self._by_external_id = {spec.external_id: spec for spec in specs}
        self._scale = scale
        self._seen = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        """The hook to pass to `aiohttp.ClientSession(trace_configs=[...])`."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_request_end)
        return trace

    async def _on_request_end(self, *_: Any) -> None:
        tasks = self._fake.tasks
        if len(tasks) == self._seen:
            return
        for task in list(itertools.islice(tasks.values(), self._seen, None)):
            spec = self._by_external_id.get(task.external_task_id or "")
            if spec is not None:
                self._fake.set_timings(
                    task.task_id,
                    submitted_s=spec.submitted_s * self._scale,
                    processing_s=spec.processing_s * self._scale,
                )
        self._seen = len(tasks)


@dataclass(frozen=True, slots=True)
class TaskRun:
    """What happened to one task, on the wall clock (`time.time()` seconds)."""

    spec: TaskSpec
    created_at: float  # the fake made the task
    terminal_at: float  # the fake finished it
    noticed_at: float  # the poller knew (engine: the time of its SUCCEEDED/FAILED event)
    # The engine's submitter pass that sent it began (its SUBMITTING event); NaN for naive runs.
    pass_started_at: float
    # The query that saw the end: a poller stops asking then, so it is the task's last query.
    # (Found by order, not by comparing with terminal_at: no clock is compared with another.)
    seen_ended_at: float
    queries: int  # queries the fake got about this task


@dataclass(frozen=True, slots=True)
class Run:
    """One workload run by one poller."""

    poller: str
    scale: float
    slots: int
    tasks: list[TaskRun]  # in workload order
    create_times: list[float]  # accepted creates at the fake, oldest first
    refused_creates: int  # creates the fake answered with an error (429/1303 …)
    wall_s: float
    queries_sent: int  # the poller's own count


class _EndObserver:
    """Sets `all_ended` once every task of the run reached a terminal state."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._ended: set[int] = set()
        self.all_ended = asyncio.Event()

    async def task_changed(self, task: TaskRecord) -> None:
        if task.state in _END_STATES:
            self._ended.add(task.id)
            if len(self._ended) >= self._count:
                self.all_ended.set()


async def run_engine(
    specs: list[TaskSpec], *, slots: int, scale: float, seed: int, callbacks: bool = False
) -> Run:
    """The whole engine (submitter, tracker, couriers, SQLite store) runs the workload.

    `callbacks`: every create carries a callback URL of a loopback receiver (the bot's own
    route), the fake posts each status change to it, and polling is the sparse safety net.
    """
    request = bench_request()
    clock = ScaledClock(scale)  # the engine's time, and the time the fake tells
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        work_dir = Path(tmp)
        async with (
            FakeCometAPI(fake_config(slots=slots, seed=seed, clock=clock)) as fake,
            _CallbackRoute() as route,
        ):
            timings = FakeTimings(fake, specs, scale)
            async with aiohttp.ClientSession(trace_configs=[timings.trace_config()]) as session:
                signer = CallbackSigner(b"bench-callback-key-0123456789ab", route.url)
                client = OmniClient(
                    session,
                    fake.base_url,
                    fake.config.api_key,
                    callback_url_for=signer.url_for if callbacks else None,
                    sleep=clock.sleep,
                )
                store = await SqlStore.open(work_dir / "bot.sqlite3")
                try:
                    observer = _EndObserver(len(specs))
                    engine = TaskEngine(
                        store,
                        client,
                        FileDeliverer(work_dir / "out"),
                        engine_settings(work_dir, slots=slots, callbacks=callbacks),
                        observer=observer,
                        clock=clock,
                        rng=random.Random(seed),
                    )
                    route.receiver = CallbackReceiver(signer, engine)
                    try:
                        records = [await engine.enqueue(_new_task(spec, request)) for spec in specs]
                        started = time.monotonic()
                        await engine.start()
                        await asyncio.wait_for(observer.all_ended.wait(), _RUN_TIMEOUT_S)
                        wall_s = time.monotonic() - started
                        queries_sent = engine.tracker.queries_sent
                    finally:
                        await engine.stop()
                    noticed, passes = await _engine_times(store, records, clock)
                finally:
                    await store.close()
        name = "engine-callbacks" if callbacks else "engine"
        return _collect(
            fake, specs, noticed, name, slots, scale, wall_s, queries_sent, passes=passes
        )


class _CallbackRoute:
    """`POST /omni/callback/{token}` on loopback, handed to the receiver once the engine exists
    (the engine's client needs the route's URL first)."""

    def __init__(self) -> None:
        self.receiver: CallbackReceiver | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> _CallbackRoute:
        app = web.Application()
        app.router.add_post(CALLBACK_PATH + "/{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{CALLBACK_PATH}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.receiver is None:
            return web.json_response({"status": "not ready"}, status=503)
        return await self.receiver.handle(request)


async def _engine_times(
    store: SqlStore, records: list[TaskRecord], clock: ScaledClock
) -> tuple[dict[str, float], dict[str, float]]:
    """From each task's event log: when the tracker saw it end, and when the submitter pass
    that sent it began (the submitter stamps SUBMITTING with that time); by external id, in wall
    seconds (the log is in the engine's compressed time)."""
    noticed: dict[str, float] = {}
    passes: dict[str, float] = {}
    for record in records:
        events = await store.task_events(record.id)
        noticed[record.external_id] = next(
            clock.wall_time_of(e.at).timestamp() for e in events if e.to_state in NOTICED_STATES
        )
        passes[record.external_id] = next(
            clock.wall_time_of(e.at).timestamp()
            for e in events
            if e.to_state is TaskState.SUBMITTING
        )
    return noticed, passes


async def run_naive(
    specs: list[TaskSpec], *, slots: int, scale: float, interval_s: float, seed: int
) -> Run:
    """`NaivePoller` runs the workload, polling every `interval_s` model seconds."""
    request = bench_request()
    async with FakeCometAPI(fake_config(slots=slots, seed=seed)) as fake:
        timings = FakeTimings(fake, specs, scale)
        async with aiohttp.ClientSession(trace_configs=[timings.trace_config()]) as session:
            client = OmniClient(session, fake.base_url, fake.config.api_key)
            poller = NaivePoller(client, slots=slots, interval_s=interval_s * scale)
            started = time.monotonic()
            noticed = await asyncio.wait_for(
                poller.run([(spec.external_id, request) for spec in specs]), _RUN_TIMEOUT_S
            )
            wall_s = time.monotonic() - started
    name = f"naive-{interval_s:g}s"
    return _collect(fake, specs, noticed, name, slots, scale, wall_s, poller.queries_sent)


def _new_task(spec: TaskSpec, request: OmniRequest) -> NewTask:
    return NewTask(
        origin="discord",
        request=request,
        cost=1,
        guild_id=1,
        channel_id=2,
        user_id=spec.user_id,
        external_id=spec.external_id,
    )


def _collect(
    fake: FakeCometAPI,
    specs: list[TaskSpec],
    noticed: dict[str, float],
    poller: str,
    slots: int,
    scale: float,
    wall_s: float,
    queries_sent: int,
    *,
    passes: dict[str, float] | None = None,
) -> Run:
    """Join the fake's records with the notice times, task by task."""
    by_external_id = {task.external_task_id: task for task in fake.tasks.values()}
    query_prefix = CREATE_PATH + "/"
    queries: Counter[str] = Counter()
    last_query_at: dict[str, float] = {}
    for request in fake.requests:
        if request.method != "GET" or request.task_id is None:
            continue
        if not request.path.startswith(query_prefix):
            continue  # a result download, not a query
        queries[request.task_id] += 1
        last_query_at[request.task_id] = request.at  # requests are in arrival order
    runs = []
    for spec in specs:
        task = by_external_id[spec.external_id]
        runs.append(
            TaskRun(
                spec=spec,
                created_at=task.created_at,
                terminal_at=task.terminal_at,
                noticed_at=noticed[spec.external_id],
                pass_started_at=(passes or {}).get(spec.external_id, math.nan),
                seen_ended_at=last_query_at[task.task_id],
                queries=queries[task.task_id],
            )
        )
    accepted = fake.accepted_creates()
    refused = sum(1 for r in fake.creates() if r.task_id is None)
    create_times = sorted(task.created_at for task in fake.tasks.values())
    log.info(
        "%s: %d tasks in %.1f s wall, %d accepted creates, %d refused",
        poller,
        len(runs),
        wall_s,
        len(accepted),
        refused,
    )
    return Run(poller, scale, slots, runs, create_times, refused, wall_s, queries_sent)

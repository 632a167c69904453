"""Start-up with a large history, and event-loop lag while tracking many live tasks.

`python -m bench.startup [--finished 100000] [--live 500] [--scale 0.01] [--tracking-s 8]`

Resume: a database with `--finished` finished tasks (their events and ledger rows too, seeded in
bulk) and a handful of unfinished ones (written through the store's own operations) is opened
and `engine.resume()` is run; only open + resume is timed, on a fresh copy of the same file each
repeat. Target: under 1 s.

Lag: `--live` tasks that never end sit at a fake CometAPI in its own process, and the engine
submits and then tracks them with every time constant compressed by `--scale`. A probe sleeps
10 ms in a loop and records how late `loop.time()` says it woke. Target: p99 under 50 ms while
tracking.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Report, Target, base_parser, log, setup_logging, summary
from bench.fake_host import FakeHost
from bench.workload import bench_request, engine_settings
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord
from bot.engine.clock import ScaledClock
from bot.engine.courier import FileDeliverer
from bot.engine.task_engine import TaskEngine
from bot.fakes.comet import FakeCometConfig
from bot.omni.client import OmniClient
from bot.store.sql import to_db_time
from bot.store.sql_store import SqlStore

API_KEY = FakeCometConfig().api_key
PROBE_SLEEP_S = 0.010
RESUME_REPEATS = 5
_S = TaskState
# How the finished history ends (share, end state, the states it went through on the way).
_HISTORY = (
    (0.90, _S.DELIVERED, (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING, _S.SUCCEEDED, _S.DELIVERING)),
    (0.05, _S.FAILED, (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING)),
    (0.03, _S.REJECTED, (_S.SUBMITTING,)),
    (0.01, _S.TIMED_OUT, (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING)),
    (0.01, _S.UNDELIVERABLE, (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING, _S.SUCCEEDED)),
)
# The unfinished tasks a restart finds among the history (state, how many).
_LIVE = (
    (_S.QUEUED, 5),
    (_S.SUBMITTING, 1),
    (_S.SUBMITTED, 1),
    (_S.PROCESSING, 3),
    (_S.SUCCEEDED, 1),
    (_S.DELIVERING, 1),
)
_PATH_TO = {
    _S.QUEUED: (),
    _S.SUBMITTING: (_S.SUBMITTING,),
    _S.SUBMITTED: (_S.SUBMITTING, _S.SUBMITTED),
    _S.PROCESSING: (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING),
    _S.SUCCEEDED: (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING, _S.SUCCEEDED),
    _S.DELIVERING: (_S.SUBMITTING, _S.SUBMITTED, _S.PROCESSING, _S.SUCCEEDED, _S.DELIVERING),
}

# Bulk seeding only (the store has no bulk insert, and a benchmark may not wait for 100,000
# one-by-one transactions); the unfinished tasks go through the store itself.
_INSERT_TASK = (
    "INSERT INTO tasks (id, external_id, origin, guild_id, channel_id, user_id, request_json, "
    "cost, state, api_task_id, created_at, updated_at, queued_at, submitted_at, finished_at, "
    "poll_count, failure_reason, result_url, result_path, result_size_bytes, "
    "delivery_message_id) VALUES (?, ?, 'discord', ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO task_events (task_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, '')"
)
_INSERT_LEDGER = (
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


# -- resume ---------------------------------------------------------------------------------------


def _history(count: int, seed: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    """Per finished task: its row, its events and its ledger rows, as INSERT parameters."""
    rng = random.Random(seed)
    request_json = bench_request().model_dump_json()
    step = timedelta(days=90) / count  # three months of history, oldest first
    shares = [share for share, _, _ in _HISTORY]
    for task_id in range(1, count + 1):
        _, end, path = rng.choices(_HISTORY, weights=shares)[0]
        created = start + step * task_id
        times = [to_db_time(created + timedelta(seconds=20 * n)) for n in range(len(path) + 2)]
        guild_id, user_id = 1 + task_id % 3, 10_000 + task_id % 400
        submitted = times[2] if _S.SUBMITTED in path else None
        is_delivered = end is _S.DELIVERED
        row = (
            task_id,
            f"kob-history-{task_id:06d}",
            guild_id,
            2,
            user_id,
            request_json,
            end.value,
            f"{10**17 + task_id}" if submitted else None,
            times[0],
            times[-1],
            times[0],
            submitted,
            times[-1],
            12 if submitted else 0,
            None if is_delivered else f"ended {end.value}",
            f"https://cdn.example/{task_id}.mp4" if _S.SUCCEEDED in path else None,
            f"/data/results/task-{task_id}.mp4" if is_delivered else None,
            4_000_000 if is_delivered else None,
            900_000_000_000 + task_id if is_delivered else None,
        )
        states = [_S.QUEUED, *path, end]
        events = [
            (task_id, times[n], None if n == 0 else states[n - 1].value, state.value)
            for n, state in enumerate(states)
        ]
        ledger = [(guild_id, user_id, task_id, "charge", 1, times[0], times[0])]
        if end.is_refunded:
            ledger.append((guild_id, user_id, task_id, "refund", -1, times[-1], times[0]))
        yield row, events, ledger


def _seed_history(path: Path, count: int, seed: int) -> None:
    """Bulk-insert the finished history into the (migrated) database file; blocking."""
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    ledger: list[tuple[Any, ...]] = []
    start = datetime.now(UTC) - timedelta(days=91)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        for row, row_events, row_ledger in _history(count, seed, start):
            rows.append(row)
            events += row_events
            ledger += row_ledger
            if len(rows) >= 10_000:  # in batches, so memory stays small
                _flush(db, rows, events, ledger)
        _flush(db, rows, events, ledger)
        db.execute("COMMIT")
    finally:
        db.close()


def _flush(
    db: sqlite3.Connection,
    rows: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
    ledger: list[tuple[Any, ...]],
) -> None:
    db.executemany(_INSERT_TASK, rows)
    db.executemany(_INSERT_EVENT, events)
    db.executemany(_INSERT_LEDGER, ledger)
    rows.clear()
    events.clear()
    ledger.clear()


async def _add_live_tasks(path: Path) -> None:
    """The unfinished tasks, written the way the engine writes them."""
    store = await SqlStore.open(path)
    request = bench_request()
    now = datetime.now(UTC)
    try:
        for state, count in _LIVE:
            for _ in range(count):
                new = NewTask(origin="cli", request=request, cost=0)
                task = await store.create_task(new, now=now)
                for step in _PATH_TO[state]:
                    fields: dict[str, Any] = {}
                    if step is _S.SUBMITTED:
                        fields["api_task_id"] = f"live-{task.id}"
                    if step is _S.SUCCEEDED:
                        fields["result_url"] = f"http://127.0.0.1:9/files/live-{task.id}.mp4"
                    task = await store.transition(task.id, step, now=now, **fields)
    finally:
        await store.close()


async def build_database(path: Path, finished: int, seed: int) -> float:
    """Create, migrate and fill the database; return the seconds it took (not a figure)."""
    started = time.monotonic()
    store = await SqlStore.open(path)  # the schema, through the real migrations
    await store.close()
    await asyncio.to_thread(_seed_history, path, finished, seed)
    await _add_live_tasks(path)
    return time.monotonic() - started


def _copy_to_disk(source: Path, target: Path) -> None:
    """Copy and fsync, so the disk is not still writing the copy back while resume is timed."""
    shutil.copyfile(source, target)
    with target.open("rb+") as copied:
        os.fsync(copied.fileno())


async def time_resume(path: Path, work_dir: Path, session: aiohttp.ClientSession) -> dict[str, Any]:
    """Open the store and resume an engine on it; the seconds of each step and what it found."""
    # The client is never called by resume(); it only has to exist.
    client = OmniClient(session, "http://127.0.0.1:9", API_KEY)
    settings = engine_settings(work_dir, slots=5)
    started = time.perf_counter()
    store = await SqlStore.open(path)
    try:
        opened = time.perf_counter()
        engine = TaskEngine(store, client, FileDeliverer(work_dir / "out"), settings)
        found = await engine.resume()
        resumed = time.perf_counter()
        await engine.stop()
    finally:
        await store.close()
    return {
        "open_ms": (opened - started) * 1000,
        "resume_ms": (resumed - opened) * 1000,
        "total_ms": (resumed - started) * 1000,
        "found": {state.value: count for state, count in sorted(found.items())},
    }


async def measure_resume(finished: int, seed: int) -> dict[str, Any]:
    """Build the database once, then time open + resume on fresh copies of it."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work_dir = Path(tmp)
        pristine = work_dir / "pristine.sqlite3"
        build_s = await build_database(pristine, finished, seed)
        size_mib = pristine.stat().st_size / (1024 * 1024)
        log.info(
            "startup: %d finished tasks seeded in %.1f s (%.0f MiB)", finished, build_s, size_mib
        )
        timings = []
        async with aiohttp.ClientSession() as session:
            for repeat in range(RESUME_REPEATS):
                # resume() moves `submitting` on to `ambiguous`: each repeat gets a fresh copy.
                copy = work_dir / f"run-{repeat}.sqlite3"
                await asyncio.to_thread(_copy_to_disk, pristine, copy)
                timings.append(await time_resume(copy, work_dir, session))
    totals = [t["total_ms"] for t in timings]
    return {
        "finished_tasks": finished,
        "database_mib": round(size_mib, 1),
        "seeding_s": round(build_s, 1),
        "found_unfinished": timings[0]["found"],
        "open_ms": summary([t["open_ms"] for t in timings], digits=2),
        "resume_ms": summary([t["resume_ms"] for t in timings], digits=2),
        "open_plus_resume_ms": summary(totals, digits=2),
        "open_plus_resume_median_ms": round(statistics.median(totals), 2),
        "open_plus_resume_each_ms": [round(total, 2) for total in totals],
    }


# -- event-loop lag -------------------------------------------------------------------------------


class _AtApiObserver:
    """Sets `all_at_api` once every task has been accepted by the API."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._at_api: set[int] = set()
        self.all_at_api = asyncio.Event()

    async def task_changed(self, task: TaskRecord) -> None:
        if task.state is TaskState.SUBMITTED:
            self._at_api.add(task.id)
            if len(self._at_api) >= self._count:
                self.all_at_api.set()


async def _probe(samples: list[tuple[float, float]]) -> None:
    """Sleep 10 ms forever; record (when it slept, how late it woke) in milliseconds."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(PROBE_SLEEP_S)
        samples.append((before, (loop.time() - before - PROBE_SLEEP_S) * 1000))


async def measure_lag(live: int, scale: float, tracking_s: float) -> dict[str, Any]:
    """Submit `live` never-ending tasks, track them for `tracking_s` wall seconds, probe lag."""
    never_s = str(10**9)
    host = FakeHost("--max-concurrent-tasks", str(live * 2), "--processing-s", never_s)
    with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp:
        work_dir = Path(tmp)
        async with host as base_url, aiohttp.ClientSession() as session:
            store = await SqlStore.open(work_dir / "bot.sqlite3")
            observer = _AtApiObserver(live)
            clock = ScaledClock(scale)
            engine = TaskEngine(
                store,
                OmniClient(session, base_url, API_KEY, sleep=clock.sleep),
                FileDeliverer(work_dir / "out"),
                # Tasks that never end must not time out while the lag is measured.
                engine_settings(work_dir, slots=live, timeout_model_s=10**9),
                observer=observer,
                clock=clock,
                rng=random.Random(0),
            )
            request = bench_request()
            for n in range(live):
                await engine.enqueue(
                    NewTask(
                        origin="discord",
                        request=request,
                        cost=1,
                        guild_id=1,
                        channel_id=2,
                        user_id=1000 + n % 50,
                    )
                )
            loop = asyncio.get_running_loop()
            samples: list[tuple[float, float]] = []
            probe = asyncio.create_task(_probe(samples))
            try:
                started = loop.time()
                await engine.start()
                await asyncio.wait_for(observer.all_at_api.wait(), 120)
                ramp_end = loop.time()
                queries_before = engine.tracker.queries_sent
                cpu_before = time.process_time()
                await asyncio.sleep(tracking_s)
                tracking_end = loop.time()
                cpu_s = time.process_time() - cpu_before
                queries = engine.tracker.queries_sent - queries_before
                tracked = engine.tracker.live_count
            finally:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
                await engine.stop()
                await store.close()
    ramp = [lag for at, lag in samples if at < ramp_end]
    tracking = [lag for at, lag in samples if ramp_end <= at < tracking_end]
    return {
        "live_tasks": live,
        # Due, but still waiting for the tracker's query rate or its parallel-query gate.
        "polls_waiting_at_the_end": live - tracked,
        "ramp_s": round(ramp_end - started, 2),
        "tracking_s": round(tracking_end - ramp_end, 2),
        "queries_per_wall_s_while_tracking": round(queries / (tracking_end - ramp_end), 1),
        # CPU seconds of this process (all its threads) per wall second: 1.0 = one full core.
        "cpu_share_while_tracking": round(cpu_s / (tracking_end - ramp_end), 2),
        "lag_ms_while_submitting": summary(ramp, digits=2),
        "lag_ms_while_tracking": summary(tracking, digits=2),
    }


async def measure(finished: int, live: int, scale: float, tracking_s: float, seed: int) -> Report:
    """Both halves; the lag first, before resume's copies of a 100 MiB file keep the disk busy."""
    report = Report(
        "startup",
        {
            "finished_tasks": finished,
            "live_tasks_for_lag": live,
            "scale": scale,
            "tracking_s": tracking_s,
            "probe_sleep_ms": PROBE_SLEEP_S * 1000,
            "resume_repeats": RESUME_REPEATS,
            "seed": seed,
        },
    )
    log.info("startup: lag with %d live tasks at scale %g", live, scale)
    lag = await measure_lag(live, scale, tracking_s)
    log.info("startup: resume with %d finished tasks", finished)
    resume = await measure_resume(finished, seed)
    report.figures = {"resume": resume, "lag": lag}
    report.targets = [
        Target(
            "open + resume with the history, worst of the repeats",
            resume["open_plus_resume_ms"]["max"],
            "<",
            1000,
            "ms",
        ),
        Target(
            f"event-loop lag p99 while tracking {live} tasks",
            lag["lag_ms_while_tracking"]["p99"],
            "<",
            50,
            "ms",
        ),
    ]
    report.notes = [
        "resume is timed with the file in the OS page cache (it was just written or copied).",
        "the fake runs in its own process, so the lag is the bot's own.",
    ]
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the JSON report."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=500)
    parser.add_argument("--scale", type=float, default=0.01, help="wall seconds per model second")
    parser.add_argument("--tracking-s", type=float, default=8.0, help="wall seconds of tracking")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    report = asyncio.run(measure(args.finished, args.live, args.scale, args.tracking_s, args.seed))
    report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())

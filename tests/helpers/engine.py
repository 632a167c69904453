"""The engine against the fake CometAPI and a real SQLite store, with compressed time: the
building blocks the engine's, the command line's and the crash tests share.

The engine runs on a clock 200 times faster than the wall clock (`FAST_SCALE`): its settings are
in real-world seconds, and a test's wall-clock figures are model seconds times the scale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.domain.backoff import Backoff
from bot.domain.clock import Clock
from bot.domain.records import NewTask, QuotaCheck
from bot.domain.request import OmniRequest, make_request
from bot.engine.courier import Deliverer, FileDeliverer
from bot.engine.submitter import Prepare
from bot.engine.task_engine import EngineSettings, ForgetInputs, TaskEngine
from bot.engine.tracker import TrackerSettings
from bot.fakes.comet import FakeCometAPI
from bot.fakes.harness import fast_clock_of
from bot.omni.client import OmniClient, RetryPolicy
from bot.store.sql_store import SqlStore

FAST_SCALE = 0.005
FAST_RETRY = RetryPolicy(max_attempts=2, backoff=Backoff(initial_s=0.01, max_s=0.05))
UNLIMITED = QuotaCheck(
    limit=None,
    window="day",
    window_start=datetime(2026, 1, 1, tzinfo=UTC),
    resets_at=datetime(2099, 1, 1, tzinfo=UTC),
)


def request(prompt: str = "a paper boat in the rain") -> OmniRequest:
    return make_request({"prompt": prompt, "aspect_ratio": "16:9", "duration_s": 5})


def new_task(user_id: int, prompt: str = "a paper boat in the rain") -> NewTask:
    return NewTask(
        origin="discord", request=request(prompt), cost=1, guild_id=1, channel_id=2, user_id=user_id
    )


@asynccontextmanager
async def running_engine(
    tmp_path: Path,
    fake: FakeCometAPI,
    *,
    slots: int = 5,
    task_timeout: timedelta = timedelta(minutes=30),
    create_timeout_s: float = 10,
    start: bool = True,
    deliverer: Deliverer | None = None,
    client_class: type[OmniClient] = OmniClient,
    store_class: type[SqlStore] = SqlStore,
    prepare: Prepare | None = None,
    forget_inputs: ForgetInputs | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[TaskEngine]:
    """An engine on `clock` (default: the fake's clock at `FAST_SCALE`, shared by the engines
    a test starts against the same fake); `task_timeout` in the clock's seconds."""
    clock = clock or fast_clock_of(fake, FAST_SCALE)
    store = await store_class.open(tmp_path / "bot.sqlite3")
    async with aiohttp.ClientSession() as session:
        client = client_class(
            session,
            fake.base_url,
            fake.config.api_key,
            create_timeout_s=create_timeout_s,
            create_retry=FAST_RETRY,
            query_retry=FAST_RETRY,
            sleep=clock.sleep,
        )
        engine = TaskEngine(
            store,
            client,
            deliverer or FileDeliverer(tmp_path / "out"),
            EngineSettings(
                max_concurrent_tasks=slots,
                results_dir=tmp_path / "results",
                max_result_bytes=50 * 1024 * 1024,
                task_timeout=task_timeout,
                tracker=TrackerSettings(task_timeout=task_timeout),
                stop_grace_s=0.5,
            ),
            clock=clock,
            prepare=prepare,
            forget_inputs=forget_inputs,
        )
        if start:
            await engine.start()
        try:
            yield engine
        finally:
            await engine.stop()
            await store.close()


def creates_per_task(fake: FakeCometAPI) -> dict[str, int]:
    counts: dict[str, int] = {}
    for created in fake.accepted_creates():
        assert isinstance(created.body, dict)
        external_id = str(created.body["external_task_id"])
        counts[external_id] = counts.get(external_id, 0) + 1
    return counts

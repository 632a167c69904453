"""Keeps the progress bars of rendering tasks moving: estimates from the store, and a tick.

`RenderEstimates` reads how long recent renders of the same kind took (cached briefly: the
answer changes only when a task finishes). `ProgressTicker` asks the status messages of tasks
at Kling to show themselves again every few seconds; the status updater edits one only when
what it shows changed, and never more often than its own pacing allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.domain.lifecycle import TaskState
from bot.domain.progress import expected_render_s
from bot.domain.records import TaskRecord
from bot.engine.courier import TaskObserver
from bot.engine.periodic import Periodic
from bot.store import TaskStore

log = logging.getLogger(__name__)

RENDERING = (TaskState.SUBMITTED, TaskState.PROCESSING)
SAMPLES = 20  # the latest renders of the same kind that the estimate is taken from


class RenderEstimates:
    """How long a task's render is expected to take, from recent tasks like it."""

    def __init__(
        self,
        store: TaskStore,
        *,
        ttl_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str, int | None], tuple[float, float]] = {}

    async def expected_s(self, task: TaskRecord) -> float | None:
        """Seconds from the create to the video for tasks of this model, mode and length."""
        request = task.request
        key = (request.model, request.mode, request.duration_s)
        cached = self._cache.get(key)
        if cached is not None and self._monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        samples = await self._store.render_times(*key, limit=SAMPLES)
        expected = expected_render_s(samples)
        if expected is not None:  # none yet: the first render of a kind may end any moment
            self._cache[key] = (self._monotonic(), expected)
        return expected


class ProgressTicker:
    """Every `every_s`, tells the status observer about each task being rendered."""

    def __init__(self, store: TaskStore, observer: TaskObserver, *, every_s: float = 10.0) -> None:
        self._store = store
        self._observer = observer
        self._loop = Periodic(
            "progress-ticker", every_s, self.run_once, _tick_failed, at_once=False
        )

    async def run_once(self) -> int:
        """One tick: how many tasks were asked to show their progress."""
        tasks = await self._store.tasks_in_states(RENDERING)
        shown = [t for t in tasks if t.status_message_id is not None]
        for task in shown:
            await self._observer.task_changed(task)
        return len(shown)

    def start(self) -> None:
        """Tick in the background until `stop()`."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop ticking (nothing to keep: the bars are drawn from the store)."""
        await self._loop.stop()


def _tick_failed() -> None:
    log.warning("progress tick failed; trying again at the next", exc_info=True)

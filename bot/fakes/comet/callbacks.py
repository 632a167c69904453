"""The fake's Omni callbacks: a POST to a task's `callback_url` at each status change, like Kling.

Kling posts the flat task object; some write-ups say it comes wrapped in `{code, message, data}`
(`FakeCometConfig.callback_shape`). `skip_callbacks` drops them all (a callback URL the API can't
reach); a test may also drop the next few (`skip_next`). No timer runs per state: one waiter per
task sleeps until its next transition, woken early when a test ends the task or changes its
timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from .config import FakeCometConfig
from .tasks import FakeTask, TaskState
from .views import kling_task_data, native_body

log = logging.getLogger(__name__)

_POST_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class CallbackPost:
    """One callback the fake made (or skipped)."""

    at: float  # wall clock, time.time()
    task_id: str
    url: str
    state: TaskState
    body: dict[str, object]
    status: int | None = None  # the receiver's answer; None: skipped or not reachable
    skipped: bool = False
    error: str = ""


class CallbackPoster:
    """Posts each task's status changes to its callback_url."""

    def __init__(
        self,
        config: FakeCometConfig,
        session: Callable[[], aiohttp.ClientSession],
        now_mono: Callable[[], float],
        files_base_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._session = session
        self._now = now_mono
        self._files_base_url = files_base_url
        self._waiters: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self.posts: list[CallbackPost] = []
        self.skip_next = 0  # drop this many callbacks, then deliver again

    def watch(self, task: FakeTask, url: str) -> None:
        """Post this task's changes to `url` until it ends."""
        self._wakeups[task.task_id] = asyncio.Event()
        self._waiters[task.task_id] = asyncio.create_task(
            self._follow(task, url), name=f"fake-callbacks-{task.task_id}"
        )

    def wake(self, task_id: str) -> None:
        """The task's timings or outcome changed: look again now."""
        if (event := self._wakeups.get(task_id)) is not None:
            event.set()

    async def close(self) -> None:
        """Stop every waiter."""
        waiters = list(self._waiters.values())
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
        self._waiters.clear()

    async def _follow(self, task: FakeTask, url: str) -> None:
        event = self._wakeups[task.task_id]
        sent: TaskState | None = None
        try:
            while True:
                event.clear()
                now = self._now()
                state = task.state_at(now)
                if state is not sent:
                    sent = state
                    await self._post(task, url, state, now)
                if state.is_terminal:
                    return
                upcoming = (
                    task.processing_at_mono
                    if state is TaskState.SUBMITTED
                    else task.terminal_at_mono
                )
                timeout = None if math.isinf(upcoming) else max(0.0, upcoming - self._now())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._wakeups.pop(task.task_id, None)
            self._waiters.pop(task.task_id, None)

    async def _post(self, task: FakeTask, url: str, state: TaskState, now: float) -> None:
        data = kling_task_data(task, now, self._files_base_url())
        body = native_body(data) if self._config.callback_shape == "wrapped" else data
        post = CallbackPost(time.time(), task.task_id, url, state, body)
        self.posts.append(post)
        if self._config.skip_callbacks or self.skip_next > 0:
            self.skip_next = max(0, self.skip_next - 1)
            post.skipped = True
            return
        if self._config.callback_delay_s > 0:
            await asyncio.sleep(self._config.callback_delay_s)
        try:
            async with self._session().post(url, json=body, timeout=_POST_TIMEOUT) as response:
                post.status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            post.error = f"{type(exc).__name__}: {exc}"
            log.debug("callback to %s failed: %s", url, post.error)

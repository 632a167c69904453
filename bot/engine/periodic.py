"""One background loop that does a piece of work every few seconds, from `start()` to `stop()`.

The bot's housekeeping loops (the progress ticker, the health file, media retention) are this
loop around their own `run_once()`: a failed round is logged and the next one comes as planned,
and `stop()` cancels the loop and waits until it has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class Periodic:
    """Awaits `work` every `every_s` seconds in a task named `name`, until `stop()`.

    `at_once` runs the first round when the loop starts (otherwise after the first wait). A
    round that raises is logged on `log` at `failure_level` with `failure` and its traceback.
    """

    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        *,
        every_s: float,
        name: str,
        log: logging.Logger,
        failure: str,
        failure_level: int = logging.ERROR,
        at_once: bool = True,
    ) -> None:
        self._work = work
        self._every_s = every_s
        self._name = name
        self._log = log
        self._failure = failure
        self._failure_level = failure_level
        self._at_once = at_once
        self._job: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (a second start while it runs does nothing)."""
        if self._job is None:
            self._job = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended; a round in progress is cut off."""
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
            self._job = None

    async def _run(self) -> None:
        if not self._at_once:
            await asyncio.sleep(self._every_s)
        while True:
            try:
                await self._work()
            except Exception:
                self._log.log(self._failure_level, self._failure, exc_info=True)
            await asyncio.sleep(self._every_s)

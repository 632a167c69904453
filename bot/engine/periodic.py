"""One background loop that does a piece of work every few seconds, from `start()` to `stop()`.

The bot's housekeeping loops (the progress ticker, the health file, media retention) are this
loop around their own `run_once()`: a failed round is reported by `on_failure` (called inside
the `except`, so it may log the traceback) and the next round comes as planned; `stop()` cancels
the loop and waits until it has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class Periodic:
    """Awaits `work` every `every_s` seconds in a task named `name`, until `stop()`.

    `at_once` runs the first round when the loop starts, otherwise after the first wait.
    """

    name: str
    every_s: float
    work: Callable[[], Awaitable[object]]
    on_failure: Callable[[], object]
    at_once: bool = True
    _job: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        """Start the loop (a second start while it runs does nothing)."""
        if self._job is None:
            self._job = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended; a round in progress is cut off."""
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
            self._job = None

    async def _run(self) -> None:
        if not self.at_once:
            await asyncio.sleep(self.every_s)
        while True:
            try:
                await self.work()
            except Exception:
                self.on_failure()
            await asyncio.sleep(self.every_s)

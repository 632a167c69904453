"""The clock: what time it is and how to wait, passed in as one object instead of read anywhere.

Production runs on the system clock (`bot.engine.clock.SystemClock`). The demo, the tests and the
benchmarks pass a `ScaledClock` that runs time faster than the wall clock: every constant of the
engine (poll intervals, backoffs, grace periods, timeouts, query rates) stays in real-world
seconds and the clock alone does the compressing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio


class Clock(Protocol):
    """The time the engine runs on, and its sleep."""

    def now(self) -> datetime:
        """The current time on this clock, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Wait `seconds` of this clock's time, or until `wake` is set (if given)."""
        ...

"""The clocks the bot runs on: the system's, and a faster one for the demo, tests and benchmarks.

`bot.domain.clock.Clock` is what every loop is given. `SYSTEM_CLOCK` is the real time;
`ScaledClock(0.05)` runs twenty times faster: its `now()` moves 1/scale seconds per wall second
from its origin, and its `sleep(s)` takes `s * scale` wall seconds. Clocks of the same scale and
origin agree, also across processes, so a restarted engine never sees time run backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime


async def _sleep_wall(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(max(0.0, seconds))
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=max(0.0, seconds))


class SystemClock:
    """The real time, and asyncio's sleep."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Wait `seconds`, or until `wake` is set."""
        await _sleep_wall(seconds, wake)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class ScaledClock:
    """Time that runs `1 / scale` times faster than the wall clock from `origin` (default: now).

    Compressed time for the demo, tests and benchmarks; never used in production.
    """

    def __init__(self, scale: float, *, origin: datetime | None = None) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"a clock's scale must be above 0 and at most 1, not {scale}")
        self.scale = scale
        self.origin = origin or datetime.now(UTC)

    def now(self) -> datetime:
        """The origin plus the wall time since it, stretched by 1/scale."""
        return self.time_at_wall(datetime.now(UTC))

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Wait `seconds` of this clock's time (`seconds * scale` wall seconds), or for `wake`."""
        await _sleep_wall(seconds * self.scale, wake)

    def time_at_wall(self, wall: datetime) -> datetime:
        """What this clock showed (or will show) when the real time was `wall`."""
        return self.origin + (wall - self.origin) / self.scale

    def wall_time_of(self, at: datetime) -> datetime:
        """The real time at which this clock showed `at` (benchmarks compare with the fakes')."""
        return self.origin + (at - self.origin) * self.scale

    def __repr__(self) -> str:
        return f"ScaledClock({self.scale}, origin={self.origin.isoformat()})"

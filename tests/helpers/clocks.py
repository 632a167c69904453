"""A clock that stands still for tests: `now()` never moves, `sleep` only records how long."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class StandingClock:
    """Time frozen at `at`; every sleep is recorded and returns at once (after one loop turn)."""

    def __init__(self, at: datetime = datetime(2026, 3, 1, 12, tzinfo=UTC)) -> None:
        self.at = at
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """Always the same moment."""
        return self.at

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Record the wait; give the loop one turn."""
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

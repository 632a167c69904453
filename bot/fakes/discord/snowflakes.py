"""Snowflake IDs and the fake's injectable clock.

discord.py derives ``created_at``, ``expires_at`` and cooldown buckets from snowflakes, so every
ID the fake mints carries a real (clock-based) timestamp.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000
_WORKER_BITS = 1 << 17  # worker id 1, process id 0: purely cosmetic, but looks like Discord's


class Clock:
    """Wall-clock seconds plus an offset that tests can move forward instead of sleeping."""

    def __init__(self) -> None:
        self._offset_s = 0.0

    def now(self) -> float:
        """Current fake time, in seconds since the Unix epoch."""
        return time.time() + self._offset_s

    def advance(self, seconds: float) -> None:
        """Jump the fake time forward (or back, with a negative value)."""
        self._offset_s += seconds

    @property
    def offset_s(self) -> float:
        """How far the fake time is ahead of the real one."""
        return self._offset_s


class SnowflakeMinter:
    """Mints unique snowflakes whose timestamp is the clock's time (or a chosen one)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._increment = itertools.count()
        self._issued: set[int] = set()
        self._last = 0

    def mint(self, *, at: float | None = None) -> int:
        """A new ID stamped with ``at`` (seconds since the epoch), default the clock's now."""
        stamp = self._clock.now() if at is None else at
        ms = int(stamp * 1000) - DISCORD_EPOCH_MS
        snowflake = (ms << 22) | _WORKER_BITS | (next(self._increment) & 0xFFF)
        if at is None and snowflake <= self._last:
            # Keep current-time IDs strictly increasing, as Discord's are within a worker.
            snowflake = self._last + 1
        while snowflake in self._issued:
            snowflake += 1
        self._issued.add(snowflake)
        if at is None:
            self._last = snowflake
        return snowflake


def snowflake_time(snowflake: int) -> float:
    """The creation time encoded in a snowflake, in seconds since the Unix epoch."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def iso_timestamp(seconds: float) -> str:
    """ISO 8601 UTC timestamp, as Discord writes them."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()

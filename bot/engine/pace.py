"""The pace of the tracker's queries: at most so many a second, however many tasks are due."""

from __future__ import annotations

from bot.domain.clock import Clock


class QueryPace:
    """Queries leave at most `per_s` a second, however many tasks are due at once.

    Each query reserves the next free slot (no await between reading and writing it, so no
    lock), then sleeps until it: queries leave `1 / per_s` apart, instead of that plus the
    loop's overhead when the waiting happens under a lock. `per_s` counts seconds of `clock`.
    """

    def __init__(self, per_s: float, clock: Clock) -> None:
        self._spacing_s = 1.0 / per_s
        self._clock = clock
        self._next_slot = 0.0

    async def wait_turn(self) -> None:
        """Return at this caller's slot of the pace."""
        now = self._clock.now().timestamp()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._spacing_s
        if slot > now:
            await self._clock.sleep(slot - now)

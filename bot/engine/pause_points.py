"""Test-only pause points: a kill -9 test stops the bot at a named moment, then kills it there.

Off in production: nothing pauses unless the process was started with the environment variable
`KLING_BOT_TEST_PAUSE_AT` naming a point (`kling-bot run` reads it once, at start). A paused
coroutine logs one line and waits forever; the rest of the bot keeps running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

ENVIRONMENT_KEY = "KLING_BOT_TEST_PAUSE_AT"
BEFORE_ANSWER = "before-answer"  # a member's task is charged and held; Discord not yet answered
BEFORE_RELEASE = "before-release"  # answered and inputs kept; the hold not yet ended
POINTS = frozenset({BEFORE_ANSWER, BEFORE_RELEASE})


class PausePoints:
    """The pause points armed in this process (none in production)."""

    def __init__(self, armed: frozenset[str] = frozenset()) -> None:
        unknown = armed - POINTS
        if unknown:
            raise ValueError(f"unknown pause points {sorted(unknown)}; known: {sorted(POINTS)}")
        self._armed = armed

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> PausePoints:
        """The points named (comma-separated) in `KLING_BOT_TEST_PAUSE_AT`; none when unset."""
        names = environ.get(ENVIRONMENT_KEY, "")
        return cls(frozenset(name.strip() for name in names.split(",") if name.strip()))

    async def reached(self, point: str, context: str) -> None:
        """Return at once, unless `point` is armed: then say so and never return."""
        if point not in self._armed:
            return
        log.warning("TEST PAUSE POINT %s reached %s: waiting to be killed", point, context)
        await asyncio.Event().wait()

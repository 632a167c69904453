"""The baseline the engine is measured against: a bot with a fixed-interval poll loop.

It fills free slots, then asks about every task at the API on a fixed tick, and submits the next
tasks only after a tick saw a slot free. No store, no learning: what a first version of the bot
would do. It uses the same `OmniClient` as the engine, against the same fake.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

from bot.domain.request import OmniRequest
from bot.omni.client import OmniClient, TaskSnapshot


class NaivePoller:
    """Keeps `slots` tasks at the API and polls all of them every `interval_s` (wall seconds)."""

    def __init__(self, client: OmniClient, *, slots: int, interval_s: float) -> None:
        self._client = client
        self._slots = slots
        self._interval_s = interval_s
        self.queries_sent = 0

    async def run(self, jobs: Sequence[tuple[str, OmniRequest]]) -> dict[str, float]:
        """Run every (external id, request) to its end; return when each end was noticed
        (wall clock, `time.time()`), by external id."""
        loop = asyncio.get_running_loop()
        waiting = deque(jobs)
        live: dict[str, str] = {}  # API task id -> external id
        noticed: dict[str, float] = {}
        # A fixed tick (not "sleep after the pass"), so the interval is what its name says.
        next_tick = loop.time()
        while waiting or live:
            while waiting and len(live) < self._slots:
                external_id, request = waiting.popleft()
                created = await self._client.create(request, external_task_id=external_id)
                live[created.task_id] = external_id
            next_tick += self._interval_s
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            answers = await asyncio.gather(*(self._query(task_id) for task_id in live))
            for snapshot, answered_at in answers:
                if snapshot.status.is_terminal:
                    noticed[live.pop(snapshot.task_id)] = answered_at
        return noticed

    async def _query(self, task_id: str) -> tuple[TaskSnapshot, float]:
        self.queries_sent += 1
        snapshot = await self._client.query(task_id)
        return snapshot, time.time()

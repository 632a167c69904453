"""Waiting for something to happen, never sleeping for it: a positive wait with a hang guard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.store import TaskStore

HANG_GUARD_S = 30.0  # a guard against hangs, not a speed assertion


async def eventually(check: Callable[[], bool], timeout_s: float = HANG_GUARD_S) -> None:
    """Return as soon as `check()` holds (looked at after each short turn of the loop)."""

    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout_s)


async def task_reaches(
    store: TaskStore, task_id: int, state: TaskState, timeout_s: float = HANG_GUARD_S
) -> TaskRecord:
    """Wait until the stored task is in `state` (a result is posted a moment before it is
    recorded as delivered) and return it."""

    async def wait() -> TaskRecord:
        while True:
            task = await store.get_task(task_id)
            if task.state is state:
                return task
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(wait(), timeout_s)

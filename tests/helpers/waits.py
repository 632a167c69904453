"""Waiting for something to happen, never sleeping for it: a positive wait with a hang guard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

HANG_GUARD_S = 30.0  # a guard against hangs, not a speed assertion


async def eventually(check: Callable[[], bool], timeout_s: float = HANG_GUARD_S) -> None:
    """Return as soon as `check()` holds (looked at after each short turn of the loop)."""

    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout_s)

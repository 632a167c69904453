"""The one background loop of the housekeeping jobs: first round, failed rounds, start and stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.engine.periodic import Periodic

log = logging.getLogger("tests.periodic")
GUARD_S = 10  # a safety net against hangs, not a performance assertion


class Rounds:
    """The work: counts its rounds, fails those it is told to, and signals each one."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        self.count = 0
        self.failing = failing
        self.changed = asyncio.Condition()

    async def __call__(self) -> None:
        async with self.changed:
            self.count += 1
            self.changed.notify_all()
        if self.count in self.failing:
            raise RuntimeError(f"round {self.count} broke")

    async def reach(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.count >= count), GUARD_S)


def round_failed() -> None:
    log.error("round failed", exc_info=True)


def loop_of(work: Rounds, *, every_s: float, at_once: bool = True) -> Periodic:
    return Periodic("test-loop", every_s, work, round_failed, at_once=at_once)


async def test_the_first_round_runs_at_once_and_the_next_ones_follow() -> None:
    work = Rounds()
    loop = loop_of(work, every_s=0.01)
    loop.start()
    try:
        await work.reach(3)
    finally:
        await loop.stop()


async def test_a_loop_that_waits_first_does_nothing_until_its_interval_has_passed() -> None:
    work = Rounds()
    loop = loop_of(work, every_s=3600, at_once=False)
    loop.start()
    await asyncio.sleep(0)  # the loop's task has started and is waiting
    await asyncio.sleep(0)
    await loop.stop()
    assert work.count == 0


async def test_a_failed_round_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = Rounds(failing=frozenset({1, 2}))
    loop = loop_of(work, every_s=0.01)
    with caplog.at_level(logging.ERROR, logger=log.name):
        loop.start()
        try:
            await work.reach(3)
        finally:
            await loop.stop()
    failures = [r for r in caplog.records if r.getMessage() == "round failed"]
    assert len(failures) >= 2
    assert all(r.exc_info and "broke" in str(r.exc_info[1]) for r in failures)


async def test_stop_ends_the_loop_and_a_second_start_starts_no_second_loop() -> None:
    work = Rounds()
    loop = loop_of(work, every_s=3600)
    loop.start()
    loop.start()
    await work.reach(1)
    await loop.stop()
    await loop.stop()  # stopping a stopped loop is harmless
    assert work.count == 1
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "test-loop"]

"""The test-only pause points are off unless the environment names one."""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.pause_points import BEFORE_ANSWER, BEFORE_RELEASE, ENVIRONMENT_KEY, PausePoints


async def test_nothing_pauses_without_the_environment_variable() -> None:
    points = PausePoints.from_environment({})
    for point in (BEFORE_ANSWER, BEFORE_RELEASE):
        await asyncio.wait_for(points.reached(point, "task_id=1"), 5)


async def test_an_armed_point_pauses_there_and_only_there() -> None:
    points = PausePoints.from_environment({ENVIRONMENT_KEY: BEFORE_RELEASE})
    await asyncio.wait_for(points.reached(BEFORE_ANSWER, "task_id=1"), 5)
    paused = asyncio.create_task(points.reached(BEFORE_RELEASE, "task_id=1"))
    await asyncio.sleep(0)
    assert not paused.done()
    paused.cancel()


def test_a_misspelt_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pause points"):
        PausePoints.from_environment({ENVIRONMENT_KEY: "before-anwser"})

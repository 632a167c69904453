"""The clocks: the system's is the real time; a scaled one runs faster, and sleeps shorter."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.clock import Clock
from bot.engine.clock import SYSTEM_CLOCK, ScaledClock


def test_the_system_clock_tells_aware_utc_time() -> None:
    before = datetime.now(UTC)
    now = SYSTEM_CLOCK.now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_a_scaled_clock_runs_faster_from_its_origin() -> None:
    origin = datetime.now(UTC) - timedelta(seconds=1)
    clock = ScaledClock(0.01, origin=origin)
    elapsed_model_s = (clock.now() - origin).total_seconds()
    assert 100 <= elapsed_model_s < 200  # 1 wall second (and a little) times 100


def test_scaled_clocks_of_one_origin_agree() -> None:
    """Two processes (or a restarted engine) on one compressed time never see it go back."""
    origin = datetime.now(UTC) - timedelta(seconds=2)
    first, second = ScaledClock(0.05, origin=origin), ScaledClock(0.05, origin=origin)
    earlier = first.now()
    assert second.now() >= earlier
    assert abs((second.now() - first.now()).total_seconds()) < 1.0


async def test_a_scaled_sleep_takes_scale_times_the_seconds() -> None:
    clock = ScaledClock(0.01)
    started = time.monotonic()
    await clock.sleep(20)  # 20 model seconds
    assert 0.2 <= time.monotonic() - started < 2.0


@pytest.mark.parametrize("clock", [SYSTEM_CLOCK, ScaledClock(0.5)], ids=["system", "scaled"])
async def test_a_sleep_ends_when_woken(clock: Clock) -> None:
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wake.set)
    started = time.monotonic()
    await clock.sleep(600, wake=wake)
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("scale", [0.0, -1.0, 2.0])
def test_a_scale_outside_0_to_1_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale must be above 0 and at most 1"):
        ScaledClock(scale)


def test_a_scaled_time_maps_back_to_the_wall_time_it_was_shown_at() -> None:
    origin = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = ScaledClock(0.01, origin=origin)
    assert clock.wall_time_of(origin + timedelta(seconds=500)) == origin + timedelta(seconds=5)

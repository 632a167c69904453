"""The one backoff policy: exponential, capped, jittered, and a server's Retry-After first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.backoff import Backoff

PLAIN = Backoff(initial_s=5.0, max_s=300.0)
EQUAL = Backoff(initial_s=2.0, max_s=60.0, jitter="equal")
FULL = Backoff(initial_s=2.0, max_s=60.0, jitter="full")
FLOORED = Backoff(initial_s=1.0, max_s=30.0, jitter="equal", min_s=1.0)


@pytest.mark.parametrize(
    ("backoff", "attempt", "retry_after_s", "unit", "expected"),
    [
        pytest.param(PLAIN, 1, None, 0.0, 5.0, id="first-retry-waits-initial"),
        pytest.param(PLAIN, 2, None, 0.0, 10.0, id="then-doubles"),
        pytest.param(PLAIN, 7, None, 0.0, 300.0, id="capped-at-max"),
        pytest.param(PLAIN, 10_000, None, 0.0, 300.0, id="huge-attempt-no-overflow"),
        pytest.param(PLAIN, 0, None, 0.0, 5.0, id="attempt-0-counts-as-first"),
        pytest.param(PLAIN, 3, 42.0, 0.0, 42.0, id="retry-after-wins"),
        pytest.param(PLAIN, 3, 900.0, 0.0, 300.0, id="retry-after-capped"),
        pytest.param(PLAIN, 3, -3.0, 0.0, 0.0, id="negative-retry-after-is-now"),
        pytest.param(EQUAL, 3, None, 0.0, 4.0, id="equal-jitter-low-end-is-half"),
        pytest.param(EQUAL, 3, None, 0.5, 6.0, id="equal-jitter-middle"),
        pytest.param(FULL, 3, None, 0.0, 0.0, id="full-jitter-low-end-is-zero"),
        pytest.param(FULL, 3, None, 0.5, 4.0, id="full-jitter-middle"),
        pytest.param(FLOORED, 1, None, 0.0, 1.0, id="never-below-min"),
        pytest.param(Backoff(1.0, 100.0, factor=3.0), 3, None, 0.0, 9.0, id="other-factor"),
        pytest.param(Backoff(0.0, 0.0), 5, None, 0.5, 0.0, id="no-wait-at-all"),
    ],
)
def test_delay(
    backoff: Backoff, attempt: int, retry_after_s: float | None, unit: float, expected: float
) -> None:
    delay = backoff.delay_s(attempt, retry_after_s=retry_after_s, random_unit=unit)
    assert delay == pytest.approx(expected)


@given(
    attempt=st.integers(min_value=0, max_value=200),
    unit=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    jitter=st.sampled_from(["none", "equal", "full"]),
)
def test_a_delay_stays_between_min_and_max(attempt: int, unit: float, jitter: str) -> None:
    backoff = Backoff(1.0, 30.0, jitter=jitter, min_s=0.5)  # type: ignore[arg-type]
    assert 0.5 <= backoff.delay_s(attempt, random_unit=unit) <= 30.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"initial_s": 5.0, "max_s": 1.0}, "initial_s <= max_s", id="initial-over-max"),
        pytest.param({"initial_s": -1.0, "max_s": 1.0}, "initial_s <= max_s", id="negative"),
        pytest.param({"initial_s": 1.0, "max_s": 5.0, "factor": 0.5}, "factor", id="shrinking"),
        pytest.param({"initial_s": 1.0, "max_s": 5.0, "min_s": 9.0}, "min_s", id="min-above-max"),
    ],
)
def test_a_backoff_that_makes_no_sense_is_refused(
    arguments: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**arguments)  # type: ignore[arg-type]

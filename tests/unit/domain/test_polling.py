"""The adaptive poll schedule: sparse early, dense in the expected window, backing off after."""

from __future__ import annotations

import itertools
import random

from bot.domain.polling import CompletionModel, PollPolicy, Window, next_poll_delay, prior_window

POLICY = PollPolicy()
WINDOW = Window(early_s=60, late_s=240)


def poll_times(window: Window, until_s: float, policy: PollPolicy = POLICY) -> list[float]:
    times, age = [], 0.0
    while age < until_s:
        age += next_poll_delay(age, window, policy)
        times.append(age)
    return times


def test_first_poll_comes_early_enough_to_see_a_quick_refusal() -> None:
    assert next_poll_delay(0, WINDOW, POLICY) == POLICY.first_poll_s


def test_dense_inside_the_window_sparse_outside() -> None:
    times = poll_times(WINDOW, 600)
    gaps = {t: b - a for a, b, t in zip(times, times[1:], times[1:], strict=False)}
    inside = [g for t, g in gaps.items() if WINDOW.early_s < t <= WINDOW.late_s]
    before = [g for t, g in gaps.items() if t <= WINDOW.early_s]
    after = [g for t, g in gaps.items() if t > WINDOW.late_s + 60]
    assert max(inside) <= (WINDOW.late_s - WINDOW.early_s) / POLICY.dense_polls + 1e-9
    assert max(before) > max(inside)
    assert min(after) > max(inside)
    assert max(gaps.values()) <= POLICY.max_interval_s


def test_intervals_never_below_the_minimum() -> None:
    narrow = Window(10, 10.5)
    times = poll_times(narrow, 120)
    assert all(b - a >= POLICY.min_interval_s - 1e-9 for a, b in itertools.pairwise(times))


def test_pro_and_longer_videos_are_expected_later() -> None:
    assert prior_window("pro", 5).late_s > prior_window("std", 5).late_s
    assert prior_window("std", 10).early_s > prior_window("std", 5).early_s


def test_the_model_learns_the_window_from_finished_tasks() -> None:
    model = CompletionModel()
    key = ("kling-video-o1", "std", 5)
    assert model.window(key, "std", 5) == prior_window("std", 5)
    rng = random.Random(4)
    for _ in range(40):
        model.observe(key, rng.uniform(20, 30))
    learned = model.window(key, "std", 5)
    assert 15 <= learned.early_s <= 23
    assert 27 <= learned.late_s <= 35
    # another kind with few samples falls back to everything seen
    assert (
        model.window(("other",), "pro", 10) == learned
        or model.window(("other",), "pro", 10).late_s < 40
    )


def test_beats_naive_pollers_on_a_realistic_workload() -> None:
    """Lower detection delay than a 10 s poller, fewer queries than a 5 s poller."""
    rng = random.Random(1)
    durations = [max(20.0, rng.lognormvariate(4.9, 0.35)) for _ in range(300)]
    model = CompletionModel()

    def adaptive(t: float) -> tuple[float, int]:
        window, age, n = model.window("k", "std", 5), 0.0, 0
        while age < t:
            age += next_poll_delay(age, window, model.policy)
            n += 1
        model.observe("k", t)
        return age - t, n

    def fixed(t: float, interval: float) -> tuple[float, int]:
        n = int(t // interval) + 1
        return n * interval - t, n

    ours = [adaptive(t) for t in durations]
    every5 = [fixed(t, 5) for t in durations]
    every10 = [fixed(t, 10) for t in durations]
    mean = lambda xs, i: sum(x[i] for x in xs) / len(xs)  # noqa: E731
    assert mean(ours, 0) < mean(every10, 0)
    assert mean(ours, 1) < mean(every5, 1)

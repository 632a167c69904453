"""When to ask the API about a task again: sparse while completion is unlikely, dense when likely.

Pure decisions. A task's completion time is expected inside a window [early, late] learned from the
tasks this bot saw finish (per model, mode and length), starting from published timings (a 5 s std
video about 2-3 min, pro 30-50 % longer) until enough tasks have finished. Before the window the
tracker polls rarely (but often enough to notice a quick moderation failure), inside it densely,
after it with a growing interval until the local timeout.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.records import TaskRecord

ClassKey = Hashable


@dataclass(frozen=True, slots=True)
class Window:
    """Seconds after submission between which a task of this kind usually finishes."""

    early_s: float
    late_s: float


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The knobs of the schedule, in seconds (a faster clock compresses them, never a factor)."""

    first_poll_s: float = 10.0  # Kling's advice: first poll about 10 s after create
    min_interval_s: float = 2.0
    # Measured (bench.detection, bench.slots): a 30 s cap and 25% growth left overdue tasks
    # unnoticed for ~10 s on average; 15 s and 5% halve the tail for ~2 more queries per task.
    max_interval_s: float = 15.0
    dense_polls: int = 30  # polls spread across the expected window
    overdue_growth: float = 0.05  # the interval grows by this share of the time overdue
    # With Omni callbacks, polling is only a safety net for callbacks that get lost: one look
    # when the task should be done, then one a minute.
    safety_interval_s: float = 60.0


def prior_window(mode: str, duration_s: int | None) -> Window:
    """Published timings, before any task finished: std 5 s ≈ 40-245 s, longer and pro slower."""
    seconds = duration_s or 5
    early = 30.0 + 2.0 * seconds
    late = 120.0 + 25.0 * seconds
    if mode == "pro":
        early, late = early * 1.4, late * 1.4
    return Window(early, late)


def next_poll_delay(age_s: float, window: Window, policy: PollPolicy) -> float:
    """Seconds to wait before the next query of a task submitted `age_s` seconds ago."""
    min_interval = policy.min_interval_s
    max_interval = policy.max_interval_s
    dense = max(min_interval, (window.late_s - window.early_s) / max(1, policy.dense_polls))
    dense = min(dense, max_interval)
    if age_s < window.early_s:
        # Sparse: aim at the start of the window, but look in now and then so that a task
        # refused by moderation seconds after acceptance is not left waiting for minutes.
        first = policy.first_poll_s
        if age_s < first:
            return max(min_interval, min(first, window.early_s) - age_s)
        return max(dense, min(window.early_s - age_s, max_interval))
    if age_s <= window.late_s:
        return dense
    overdue = age_s - window.late_s
    return min(max_interval, dense + overdue * policy.overdue_growth)


def safety_net_delay(age_s: float, window: Window, policy: PollPolicy) -> float:
    """Seconds to the next query when callbacks say when a task changes (they may get lost).

    One look at the late end of the expected window (a task whose callbacks were lost is found
    about when it should have ended), then one a minute.
    """
    min_interval = policy.min_interval_s
    if age_s < window.late_s:
        return max(min_interval, window.late_s - age_s)
    return max(min_interval, policy.safety_interval_s)


@dataclass
class CompletionModel:
    """Learns completion windows from the tasks that finished, per kind of task."""

    policy: PollPolicy = field(default_factory=PollPolicy)
    samples_per_class: int = 50
    min_samples: int = 5
    _by_class: dict[ClassKey, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=lambda: deque(maxlen=200))

    def observe(self, key: ClassKey, seconds: float) -> None:
        """Record that a task of this kind took `seconds` from submission to its result."""
        if seconds <= 0:
            return
        self._by_class.setdefault(key, deque(maxlen=self.samples_per_class)).append(seconds)
        self._all.append(seconds)

    def window(self, key: ClassKey, mode: str, duration_s: int | None) -> Window:
        """The learned window for this kind, else all kinds pooled, else the published timings."""
        samples = self._by_class.get(key)
        if samples is None or len(samples) < self.min_samples:
            samples = self._all if len(self._all) >= self.min_samples * 2 else None
        if samples is None:
            return prior_window(mode, duration_s)
        ordered = sorted(samples)
        if len(ordered) >= 10:
            deciles = statistics.quantiles(ordered, n=10)
            early, late = deciles[0], deciles[-1]
        else:
            early, late = ordered[0], ordered[-1]
        # Keep a margin so that a task a little faster or slower than all seen is still caught.
        spread = max(late - early, self.policy.min_interval_s)
        return Window(max(0.0, early - 0.1 * spread), late + 0.1 * spread)


def completion_key(task: TaskRecord) -> tuple[str, str, int | None]:
    """Tasks that take about as long as each other share a key."""
    request = task.request
    return (request.model, request.mode, request.duration_s)


def estimated_age_s(
    task: TaskRecord, noticed_at: datetime, api_finished_at: datetime | None = None
) -> float:
    """How long after submission the task finished: the API's own time when it gives one that
    fits between the last two polls, else midway between them.

    Learning the age at which completion was *noticed* would bias every window late by the
    detection delay, and the schedule would chase its own tail. (With callbacks the last two
    queries may be a minute apart: the midpoint would be far off, the API's time is not.)
    """
    assert task.submitted_at is not None
    previous = task.last_polled_at or task.submitted_at
    if api_finished_at is not None and previous <= api_finished_at <= noticed_at:
        return (api_finished_at - task.submitted_at).total_seconds()
    finished_at = previous + (noticed_at - previous) / 2
    return (finished_at - task.submitted_at).total_seconds()

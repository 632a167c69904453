"""Fake Kling tasks: a record per accepted create whose state is a pure function of time.

No timer runs per task: the state is computed when someone asks, so thousands of tasks cost
nothing between queries.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from .schema import unknown_fields

if TYPE_CHECKING:
    from bot.engine.clock import ScaledClock

Outcome = Literal["succeed", "failed"]


class TaskState(StrEnum):
    """Kling's `task_status` values, in the order a task moves through them."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True for `succeed` and `failed`, the states that free the concurrency slot."""
        return self in (TaskState.SUCCEED, TaskState.FAILED)


@dataclass
class FakeTask:
    """One accepted create: what was asked, how it will end, and when it moves."""

    task_id: str
    body: dict[str, object]
    created_at: float  # wall clock, time.time()
    created_mono: float  # the event loop's monotonic clock
    submitted_s: float  # T1: submitted -> processing
    processing_s: float  # T2: processing -> terminal
    outcome: Outcome
    failure_reason: str = ""
    has_video: bool = True  # False: success reported with task_result {}
    video_id: str = ""
    finished_mono: float | None = None  # set by an explicit finish()
    # The clock the fake tells this task's times on (a benchmark's compressed one, so that they
    # compare with the engine's); None: the real time.
    told_on: ScaledClock | None = None

    @property
    def external_task_id(self) -> str | None:
        """The caller's own ID from the create body, if it sent one."""
        value = self.body.get("external_task_id")
        return value if isinstance(value, str) else None

    @property
    def unknown_fields(self) -> list[str]:
        """Keys of the create body the spec does not define (accepted and ignored)."""
        return unknown_fields(self.body)

    @property
    def is_watermarked(self) -> bool:
        """True when the create asked for watermarked copies."""
        info = self.body.get("watermark_info")
        return isinstance(info, dict) and info.get("enabled") is True

    @property
    def result_duration(self) -> str:
        """`videos[0].duration`: the requested seconds as "<n>.0" (base video: the asset's 5 s)."""
        videos = self.body.get("video_list")
        is_edit = isinstance(videos, list) and any(
            isinstance(v, dict) and v.get("refer_type", "base") == "base" for v in videos
        )
        duration = self.body.get("duration")
        if is_edit or not isinstance(duration, str) or not duration.isdigit():
            return "5.0"
        return f"{int(duration)}.0"

    @property
    def processing_at_mono(self) -> float:
        """Monotonic time the task becomes `processing` (planned, or when finish() cut it)."""
        planned = self.created_mono + self.submitted_s
        return planned if self.finished_mono is None else min(planned, self.finished_mono)

    @property
    def terminal_at_mono(self) -> float:
        """Monotonic time the task ends; `inf` while it is meant to run forever."""
        if self.finished_mono is not None:
            return self.finished_mono
        return self.created_mono + self.submitted_s + self.processing_s

    @property
    def processing_at(self) -> float:
        """Wall-clock (time.time()) counterpart of `processing_at_mono`."""
        return self.wall_at(self.processing_at_mono)

    @property
    def terminal_at(self) -> float:
        """Wall-clock (time.time()) counterpart of `terminal_at_mono`."""
        return self.wall_at(self.terminal_at_mono)

    def told(self, wall: float) -> float:
        """A wall-clock time (seconds since the epoch) as the fake tells it, on `told_on`."""
        if self.told_on is None:
            return wall
        return self.told_on.time_at_wall(datetime.fromtimestamp(wall, UTC)).timestamp()

    def wall_at(self, mono: float) -> float:
        """Convert a time on the loop's monotonic clock to wall-clock seconds."""
        return self.created_at + (mono - self.created_mono)

    def state_at(self, now_mono: float) -> TaskState:
        """The state a query at `now_mono` sees."""
        if now_mono >= self.terminal_at_mono:
            return TaskState.SUCCEED if self.outcome == "succeed" else TaskState.FAILED
        if now_mono >= self.processing_at_mono:
            return TaskState.PROCESSING
        return TaskState.SUBMITTED

    def is_active_at(self, now_mono: float) -> bool:
        """True while the task holds a concurrency slot (from create until it ends)."""
        return not self.state_at(now_mono).is_terminal

    def updated_at_mono(self, now_mono: float) -> float:
        """Monotonic time of the last transition a query at `now_mono` has seen."""
        state = self.state_at(now_mono)
        if state.is_terminal:
            return self.terminal_at_mono
        if state is TaskState.PROCESSING:
            return self.processing_at_mono
        return self.created_mono

    def finish(self, now_mono: float, outcome: Outcome, reason: str = "") -> None:
        """End the task now with `outcome`; a task that already ended cannot change."""
        if not self.is_active_at(now_mono):
            raise ValueError(f"task {self.task_id} already ended as {self.state_at(now_mono)}")
        self.finished_mono = now_mono
        self.outcome = outcome
        self.failure_reason = reason if outcome == "failed" else ""

    def set_timings(self, *, submitted_s: float | None, processing_s: float | None) -> None:
        """Replace T1 and/or T2 (`math.inf` keeps the task in that state until finish())."""
        for value in (submitted_s, processing_s):
            if value is not None and (math.isnan(value) or value < 0):
                raise ValueError("timings must be non-negative seconds")
        if submitted_s is not None:
            self.submitted_s = submitted_s
        if processing_s is not None:
            self.processing_s = processing_s


def prompts_of(body: Mapping[str, object]) -> list[str]:
    """The main prompt and every multi-shot prompt: what moderation and failure keywords read."""
    candidates = [body.get("prompt")]
    shots = body.get("multi_prompt")
    if isinstance(shots, list):
        candidates += [shot.get("prompt") for shot in shots if isinstance(shot, dict)]
    return [text for text in candidates if isinstance(text, str)]


def plan_outcome(
    body: Mapping[str, object], *, fail_keyword: str, failure_rate: float, rng: random.Random
) -> Outcome:
    """Decide at create time how a task ends: the keyword always fails, else a random share."""
    if fail_keyword and any(fail_keyword in text for text in prompts_of(body)):
        return "failed"
    # Draw even when the rate is 0 so a seeded run stays the same when the rate changes.
    return "failed" if rng.random() < failure_rate else "succeed"

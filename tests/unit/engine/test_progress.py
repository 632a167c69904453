"""The progress bar (pure) and where its estimate comes from: recent renders of the same model,
mode and length in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.progress import BAR_CELLS, Progress, expected_render_s, progress, progress_text
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest
from bot.engine.progress_ticker import RenderEstimates
from bot.features.render import status_view
from bot.store.sql_store import SqlStore

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def test_the_estimate_is_the_median_of_recent_renders() -> None:
    assert expected_render_s([]) is None
    assert expected_render_s([60.0, 90.0, 300.0]) == 90.0
    assert expected_render_s([0.0, -1.0]) is None


@pytest.mark.parametrize(
    ("elapsed_s", "filled", "left_s", "text"),
    [
        (0, 0, 100, "▱▱▱▱▱▱▱▱▱▱ about 1 min 40 s left"),
        (60, 6, 40, "▰▰▰▰▰▰▱▱▱▱ about 40 s left"),
        (97, 9, 5, "▰▰▰▰▰▰▰▰▰▱ about 5 s left"),
        (100, 9, None, "▰▰▰▰▰▰▰▰▰▱ taking a little longer than usual"),
        (500, 9, None, "▰▰▰▰▰▰▰▰▰▱ taking a little longer than usual"),
    ],
)
def test_the_bar_fills_with_time_and_never_before_the_video_is_there(
    elapsed_s: float, filled: int, left_s: int | None, text: str
) -> None:
    shown = progress(elapsed_s, 100.0)
    assert shown == Progress(filled, left_s)
    assert progress_text(shown) == text
    assert len(text.split()[0]) == BAR_CELLS


def test_time_left_is_told_in_coarse_steps() -> None:
    assert progress(0, 243.0).left_s == 270  # 30 s steps past three minutes
    assert progress(0, 121.0).left_s == 130  # 10 s steps up to three minutes
    assert progress(0, 41.0).left_s == 45  # 5 s steps in the last minute
    assert progress_text(Progress(0, 180)) == "▱▱▱▱▱▱▱▱▱▱ about 3 min left"


async def test_render_times_come_from_finished_renders_of_the_same_kind(store: SqlStore) -> None:
    requests = {
        "std5": OmniRequest(prompt="a fox", aspect_ratio="16:9", duration_s=5),
        "pro5": OmniRequest(prompt="a fox", aspect_ratio="16:9", duration_s=5, mode="pro"),
        "std10": OmniRequest(prompt="a fox", aspect_ratio="16:9", duration_s=10),
    }
    for took_s, kind in ((60, "std5"), (90, "std5"), (500, "pro5"), (700, "std10")):
        task = await store.create_task(NewTask("cli", requests[kind], 0), now=NOW)
        await store.transition(task.id, TaskState.SUBMITTING, now=NOW)
        await store.transition(task.id, TaskState.SUBMITTED, now=NOW)
        done = NOW + timedelta(seconds=took_s)
        await store.transition(task.id, TaskState.SUCCEEDED, now=done)
    unfinished = await store.create_task(NewTask("cli", requests["std5"], 0), now=NOW)
    await store.transition(unfinished.id, TaskState.SUBMITTING, now=NOW)
    await store.transition(unfinished.id, TaskState.SUBMITTED, now=NOW)
    assert await store.render_times("kling-video-o1", "std", 5) == [90.0, 60.0]
    assert await store.render_times("kling-video-o1", "pro", 5) == [500.0]
    assert await store.render_times("kling-video-o1", "std", 15) == []

    clock = [0.0]
    estimates = RenderEstimates(store, ttl_s=30, monotonic=lambda: clock[0])
    running = await store.get_task(unfinished.id)
    assert await estimates.expected_s(running) == 75.0
    third = await store.create_task(NewTask("cli", requests["std5"], 0), now=NOW)
    for state in (TaskState.SUBMITTING, TaskState.SUBMITTED):
        await store.transition(third.id, state, now=NOW)
    await store.transition(third.id, TaskState.SUCCEEDED, now=NOW + timedelta(seconds=120))
    assert await estimates.expected_s(running) == 75.0  # read again only after a while
    clock[0] = 31.0
    assert await estimates.expected_s(running) == 90.0
    view = status_view(running, position=None, now=NOW + timedelta(seconds=30), expected_s=75)
    status = next(f.value for f in view.fields if f.name == "Status")
    assert status == "Sent to Kling\n▰▰▰▰▱▱▱▱▱▱ about 45 s left"

"""What the terminal shows of tasks: the `kling-bot tasks` table and `submit`'s progress lines.

Pure functions of `TaskRecord`s (the time passed in), so they are tested without an event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.lifecycle import TaskState
from bot.records import TaskRecord
from bot.render import clip, human_duration, human_size

NO_TASKS = "No tasks yet."
RESULT_MAX_CHARS = 48
API_ID_MAX_CHARS = 12
_HEADERS = (
    "id",
    "state",
    "origin",
    "who",
    "request",
    "created (UTC)",
    "took",
    "api task",
    "result",
)
_RIGHT_ALIGNED = frozenset({0})


def render_tasks(tasks: Sequence[TaskRecord], *, now: datetime) -> str:
    """The task table, one row per task in the order given (the store gives newest first)."""
    if not tasks:
        return NO_TASKS
    rows = [_HEADERS, *(_row(task, now) for task in tasks)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    lines = [_line(row, widths) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (
        cell.rjust(width) if column in _RIGHT_ALIGNED else cell.ljust(width)
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
    return "  ".join(padded).rstrip()


def _row(task: TaskRecord, now: datetime) -> tuple[str, ...]:
    return (
        str(task.id),
        task.state.value,
        task.origin,
        who(task),
        request_summary(task),
        task.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        took(task, now),
        short_api_id(task.api_task_id),
        clip(result_summary(task), RESULT_MAX_CHARS),
    )


def who(task: TaskRecord) -> str:
    """`guild/user` for a member's task, `cli` for one started from the terminal."""
    if task.user_id is None:
        return "cli"
    return f"{task.guild_id}/{task.user_id}"


def request_summary(task: TaskRecord) -> str:
    """`kling-video-o1 std 5s`; an edit lasts as long as its video."""
    request = task.request
    length = "video length" if request.duration_s is None else f"{request.duration_s}s"
    return f"{request.model} {request.mode} {length}"


def took(task: TaskRecord, now: datetime) -> str:
    """How long the task took from acceptance to its end; `…` marks one still going."""
    end = task.finished_at if task.finished_at is not None else now
    elapsed = human_duration((end - task.created_at).total_seconds())
    return elapsed if task.is_terminal else f"{elapsed}…"


def short_api_id(api_task_id: str | None) -> str:
    """The API's task id, its start and end kept when it is long (`8781…4321`)."""
    if not api_task_id:
        return "-"
    if len(api_task_id) <= API_ID_MAX_CHARS:
        return api_task_id
    keep = (API_ID_MAX_CHARS - 1) // 2
    return f"{api_task_id[:keep]}…{api_task_id[-keep:]}"


def result_summary(task: TaskRecord) -> str:
    """Where the video went, why the task ended without one, or how far it got."""
    if task.state is TaskState.DELIVERED:
        if task.delivery_message_id is not None:
            return f"message {task.delivery_message_id}"
        return task.result_path or "delivered"
    if task.state.is_terminal:
        return task.failure_reason or task.state.value
    if task.state is TaskState.PROCESSING and task.progress_pct is not None:
        return f"{task.progress_pct}%"
    return ""


def progress_line(task: TaskRecord, target: Path | None = None) -> str | None:
    """One line for `submit` when a task changes (None: nothing worth a line).

    `target` is where a delivered video was written, when the caller knows better than the store.
    """
    head = f"task #{task.id}"
    state = task.state
    if state is TaskState.QUEUED:
        return f"{head} back in the queue, to be sent again" if task.attempts else f"{head} queued"
    if state is TaskState.SUBMITTING:
        return f"{head} sending to {request_summary(task)}"
    if state is TaskState.SUBMITTED:
        return f"{head} submitted (api task {task.api_task_id})"
    if state is TaskState.PROCESSING:
        percent = "" if task.progress_pct is None else f" {task.progress_pct}%"
        return f"{head} processing{percent}"
    if state is TaskState.SUCCEEDED:
        return f"{head} succeeded — downloading"
    if state is TaskState.DELIVERING:
        if task.result_size_bytes is None:
            return None  # the download is starting: the next line says how it went
        return f"{head} downloaded ({human_size(task.result_size_bytes)})"
    if state is TaskState.AMBIGUOUS:
        return f"{head} sent, but not confirmed: checking before anything is sent again"
    if state is TaskState.DELIVERED:
        where = target if target is not None else task.result_path
        size = "" if task.result_size_bytes is None else f" ({human_size(task.result_size_bytes)})"
        return f"{head} delivered → {where}{size}"
    reason = task.failure_reason or "no reason was given"
    return f"{head} {state.value.replace('_', ' ')}: {reason}"

"""What the terminal shows of tasks: the `kling-bot tasks` table, one task in full for
`kling-bot task N`, and `submit`'s progress lines.

Pure functions of `TaskRecord`s (the time passed in), so they are tested without an event loop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskEvent, TaskRecord
from bot.domain.wording import clip, human_duration, human_size

NO_TASKS = "No tasks yet."
RESULT_MAX_CHARS = 48
PROMPT_MAX_CHARS = 32
WHO_MAX_CHARS = 24
# What each state means, for `kling-bot tasks --help` and a filter that finds nothing.
STATE_MEANINGS: dict[TaskState, str] = {
    TaskState.QUEUED: "waiting for a free slot at the API",
    TaskState.SUBMITTING: "being sent to the API",
    TaskState.SUBMITTED: "accepted by the API, not started yet",
    TaskState.PROCESSING: "being made",
    TaskState.AMBIGUOUS: "sent, unconfirmed: being looked up before anything is sent again",
    TaskState.SUCCEEDED: "made, about to be downloaded",
    TaskState.DELIVERING: "being downloaded and posted",
    TaskState.DELIVERED: "posted in its channel, or written to its file",
    TaskState.FAILED: "the API (or the bot) gave up on it; refunded",
    TaskState.REJECTED: "refused before the API made anything (bad input, withdrawn); refunded",
    TaskState.TIMED_OUT: "ran past omni.task_timeout_minutes; refunded",
    TaskState.UNDELIVERABLE: "made, but could not be posted or saved; refunded",
}
# The endings without a video: `--status failed` alone would miss the other three.
NO_VIDEO_STATES = (
    TaskState.FAILED,
    TaskState.REJECTED,
    TaskState.TIMED_OUT,
    TaskState.UNDELIVERABLE,
)
_HEADERS = (
    "id",
    "state",
    "origin",
    "who",
    "prompt",
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
        clip(who(task), WHO_MAX_CHARS),
        clip(prompt_text(task), PROMPT_MAX_CHARS),
        request_summary(task),
        task.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        took(task, now),
        task.api_task_id or "-",  # whole: operators paste it to CometAPI's support
        clip(result_summary(task), RESULT_MAX_CHARS),
    )


def who(task: TaskRecord) -> str:
    """The member's name when it was stored, else `guild/user`; `cli` for the terminal's."""
    if task.user_id is None:
        return "cli"
    return task.user_name or f"{task.guild_id}/{task.user_id}"


def prompt_text(task: TaskRecord) -> str:
    """The prompt on one line (a storyboard's shots joined with `|`)."""
    request = task.request
    text = request.prompt or " | ".join(shot.prompt for shot in request.shots)
    return re.sub(r"\s+", " ", text).strip()


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


def render_task(task: TaskRecord, events: Sequence[TaskEvent], *, now: datetime) -> str:
    """One task in full for `kling-bot task N`: who, what, every id, times, and its history."""
    rows: list[tuple[str, str]] = [
        ("state", f"{task.state.value} ({STATE_MEANINGS[task.state]})"),
        ("origin", task.origin + (f", rerun of #{task.rerun_of}" if task.rerun_of else "")),
    ]
    if task.user_id is not None:
        name = f"{task.user_name} " if task.user_name else ""
        rows.append(
            (
                "who",
                f"{name}(user {task.user_id}, server {task.guild_id}, channel {task.channel_id})",
            )
        )
    if task.edited_from is not None:
        rows.append(("edited from", f"#{task.edited_from}"))
    rows += [
        ("prompt", prompt_text(task) or "-"),
        ("request", _request_details(task)),
        ("cost", f"{task.cost} credit" + ("" if task.cost == 1 else "s")),
        ("api task", task.api_task_id or "-"),
        ("external id", task.external_id),
        ("created", _when(task.created_at)),
        ("submitted", _when(task.submitted_at)),
        ("finished", _when(task.finished_at)),
        ("took", took(task, now)),
        ("tries", f"{task.attempts} create(s) sent back to the queue; polled {task.poll_count}×"),
    ]
    if task.is_terminal:
        rows.append(("result", result_summary(task) or "-"))
    elif task.progress_pct is not None:
        rows.append(("progress", f"{task.progress_pct}%"))
    if task.result_url:
        rows.append(("result url", task.result_url))
    if task.result_path:
        size = f" ({human_size(task.result_size_bytes)})" if task.result_size_bytes else ""
        rows.append(("result file", task.result_path + size))
    if task.status_message_id is not None:
        rows.append(("status message", str(task.status_message_id)))
    width = max(len(label) for label, _ in rows)
    lines = [f"Task #{task.id}"]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines.append("History (UTC):")
    for event in events:
        before = event.from_state.value if event.from_state else "new"
        detail = f"  {event.detail}" if event.detail else ""
        lines.append(f"  {_when(event.at)}  {before} → {event.to_state.value}{detail}")
    return "\n".join(lines)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _request_details(task: TaskRecord) -> str:
    """The settings and inputs of the request (inputs counted: a base64 image is not text)."""
    request = task.request
    parts = [request_summary(task)]
    if request.aspect_ratio:
        parts.append(request.aspect_ratio)
    frames = [image.frame for image in request.images if image.frame]
    references = len(request.images) - len(frames)
    parts += [f"{frame.replace('_', ' ')}" for frame in frames]
    if references:
        parts.append(f"{references} reference image(s)")
    if request.elements:
        parts.append("elements " + ", ".join(str(e.element_id) for e in request.elements))
    for video in request.videos:
        use = "edit" if video.refer_type == "base" else "reference"
        parts.append(f"video ({use}{', own sound' if video.keep_original_sound else ''})")
    if request.shots:
        parts.append(f"{len(request.shots)} shots")
    if request.sound:
        parts.append("sound")
    if request.watermark:
        parts.append("watermark")
    return ", ".join(parts)

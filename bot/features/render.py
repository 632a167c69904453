"""What a member sees of a task: the status embed and the result message, as plain data.

Pure functions of a `TaskRecord` (plus the queue position and the time, passed in); nothing here
imports discord (`bot.discord.translate` turns a `StatusView` into an embed). Limits are
Discord's for embeds."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.cancellation import cancellation_refunded
from bot.domain.delivery import Form
from bot.domain.lifecycle import TaskState
from bot.domain.progress import Progress, progress, progress_text
from bot.domain.records import TaskRecord
from bot.domain.request import InputMode, OmniRequest
from bot.domain.wording import clip, human_duration, human_size, human_sizes_apart, jump_url, plural

CONTENT_MAX_CHARS = 2000
TITLE_MAX_CHARS = 256
DESCRIPTION_MAX_CHARS = 4096
FIELD_VALUE_MAX_CHARS = 1024
FOOTER_MAX_CHARS = 2048
EMBED_MAX_CHARS = 6000  # title + description + field names and values + footer, together

RERUN_EMOJI = "🔁"
CANCEL_EMOJI = "🛑"
VARIATION_EMOJI = "🎲"
EXTEND_EMOJI = "▶️"
LINK_LIFETIME = "about 30 days"  # Kling deletes generated videos after 30 days

COLOUR_WAITING = 0x99AAB5  # grey
COLOUR_WORKING = 0x5865F2  # blurple
COLOUR_DONE = 0x57F287  # green
COLOUR_FAILED = 0xED4245  # red
COLOUR_UNSURE = 0xFEE75C  # yellow

_MODE_NAMES = {"std": "Standard", "pro": "Pro"}
_KIND_NAMES = {
    InputMode.TEXT: "Text to video",
    InputMode.FRAMES: "Video from a first frame",
    InputMode.REFERENCE: "Video from references",
    InputMode.EDIT: "Video edit",
    InputMode.STORYBOARD: "Storyboard",
}
_FAILURE_DEFAULTS = {
    TaskState.FAILED: "Kling couldn't make this video.",
    TaskState.REJECTED: "Kling refused the request.",
    TaskState.TIMED_OUT: "Kling took too long to make this video.",
    TaskState.UNDELIVERABLE: "The video was made but couldn't be posted here.",
}
# Characters that belong to the one before them: cutting just before one splits a glyph.
_RESULT_PHRASE = "your video is ready"


@dataclass(frozen=True, slots=True)
class EmbedField:
    """One name/value pair of an embed; inline fields share a row (three to a row)."""

    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything the status embed shows, within Discord's limits."""

    title: str
    description: str
    fields: tuple[EmbedField, ...]
    colour: int
    footer: str
    timestamp: datetime | None = None  # Discord shows it in each reader's own time zone

    @property
    def size(self) -> int:
        """Characters that count towards Discord's 6000-per-embed total."""
        named = sum(len(f.name) + len(f.value) for f in self.fields)
        return len(self.title) + len(self.description) + named + len(self.footer)


def task_marker(task_id: int) -> str:
    """How the result message names its task (also what a retry looks for in the history)."""
    return f"Task #{task_id}"


def is_result_text(content: str, task_id: int) -> bool:
    """True when a message's content is `result_text` for this task (not for task #420)."""
    marker = re.escape(task_marker(task_id))
    has_phrase = _RESULT_PHRASE in content.lower()
    return has_phrase and re.search(marker + r"(?!\d)", content) is not None


# -- the status embed ------------------------------------------------------------------------


def position_worth_an_edit(shown: int | None, current: int) -> bool:
    """Whether a queued member should see their new place: always near the front, else jumps.

    A member 300th in line gains nothing from seeing 299, and the edit costs a request.
    """
    if shown is None:
        return True
    if current == shown:
        return False
    if current <= 10 or shown <= 10:
        return True
    return abs(shown - current) >= max(3, shown // 4)


def rendering_progress(
    task: TaskRecord, now: datetime, expected_s: float | None
) -> Progress | None:
    """The progress bar of a task at Kling, when there is an estimate to draw it from."""
    if expected_s is None or task.submitted_at is None:
        return None
    if task.state not in (TaskState.SUBMITTED, TaskState.PROCESSING) or task.is_cancel_requested:
        return None
    return progress((now - task.submitted_at).total_seconds(), expected_s)


def status_view(
    task: TaskRecord, *, position: int | None, now: datetime, expected_s: float | None = None
) -> StatusView:
    """The status embed of a task: prompt, settings, inputs, requester, state, time, id; while
    Kling renders it, a bar and about how long is left (`expected_s`: a usual render)."""
    request = task.request
    status = state_text(task, position=position)
    shown = rendering_progress(task, now, expected_s)
    if shown is not None:
        status = f"{status}\n{progress_text(shown)}"
    fields: tuple[EmbedField, ...] = (
        EmbedField("Status", clip(status, FIELD_VALUE_MAX_CHARS), False),
        EmbedField(
            "Requested by", "the command line" if task.user_id is None else f"<@{task.user_id}>"
        ),
        EmbedField("Model", f"{request.model} ({_MODE_NAMES.get(request.mode, request.mode)})"),
        EmbedField("Length", _length(request)),
        EmbedField("Frame", _frame(request)),
        EmbedField("Sound", _sound(request)),
        EmbedField("Inputs", _inputs(request)),
        EmbedField("Took" if task.is_terminal else "Elapsed", _elapsed(task, now)),
    )
    if task.user_id is not None:
        fields += (EmbedField("Cost", cost_text(task)),)
    title = _KIND_NAMES[request.input_mode]
    if request.multi_shot and request.shots:
        title += f" · {len(request.shots)} shots"
    if task.rerun_of is not None:
        title = f"{RERUN_EMOJI} {title} · rerun of #{task.rerun_of}"
    elif task.edited_from is not None:
        title = f"{title} · edited from #{task.edited_from}"
    elif task.varied_from is not None:
        title = f"{VARIATION_EMOJI} {title} · variation of #{task.varied_from}"
    elif task.extends is not None:
        title = f"{EXTEND_EMOJI} Next shot · extension of #{task.extends}"
    view = StatusView(
        title=f"🎬 {title}",
        description="",
        fields=fields,
        colour=_colour(task.state),
        footer=f"{task_marker(task.id)} · /task id:{task.id}",
        timestamp=task.created_at,
    )
    # The prompt gets whatever room the rest leaves: both the description cap and the total cap.
    room = max(0, min(DESCRIPTION_MAX_CHARS, EMBED_MAX_CHARS - view.size))
    return replace(view, description=clip(_prompt_text(request), room))


def state_text(task: TaskRecord, *, position: int | None) -> str:
    """Where the task is, in the words a member reads (the embed's Status field)."""
    state = task.state
    if state is TaskState.CANCELLED or (task.is_cancel_requested and not task.is_terminal):
        return _cancelled_text(task)
    if state is TaskState.QUEUED:
        text = "Waiting in line" if position is None else f"Waiting in line — position {position}"
        if task.attempts:
            text += " (Kling was busy; it will be sent again shortly)"
        return text
    if state in (TaskState.SUBMITTING, TaskState.SUBMITTED):
        return "Sent to Kling"
    if state is TaskState.PROCESSING:
        return "Rendering…" if task.progress_pct is None else f"Rendering… ({task.progress_pct}%)"
    if state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
        return "Finishing up — posting the video"
    if state is TaskState.DELIVERED:
        if task.result_deleted_by is not None:
            return f"Done ✅ — the video was removed by <@{task.result_deleted_by}>"
        if task.delivery_message_id is None or task.guild_id is None or task.channel_id is None:
            return "Done ✅"
        link = jump_url(task.guild_id, task.channel_id, task.delivery_message_id)
        return f"Done ✅ — [jump to the video]({link})"
    if state is TaskState.AMBIGUOUS:
        return "Checking with Kling whether the task was received"
    return _failure_text(task)


def _cancelled_text(task: TaskRecord) -> str:
    who = "" if task.cancelled_by is None else f" by <@{task.cancelled_by}>"
    credits = "Your credit" if task.cost == 1 else f"Your {task.cost} credits"
    refunded = cancellation_refunded(
        was_created=task.api_task_id is not None, refund_running=task.cancel_refund
    )
    if task.is_terminal:
        money = f" {credits} {'was' if task.cost == 1 else 'were'} refunded." if refunded else ""
        return (
            f"{CANCEL_EMOJI} Cancelled{who}.{money}"
            if task.cost
            else f"{CANCEL_EMOJI} Cancelled{who}."
        )
    # Still at the API: Kling has no way to stop it, so it keeps its slot until it is done.
    text = f"{CANCEL_EMOJI} Cancelled{who}: Kling is finishing it, and it won't be posted."
    if task.cost:
        text += (
            f" {credits} will be refunded."
            if refunded
            else " The server is billed for it, so its credits stay used."
        )
    return text


def _failure_text(task: TaskRecord) -> str:
    reason = (task.failure_reason or "").strip() or _FAILURE_DEFAULTS[task.state]
    reason = reason[0].upper() + reason[1:]
    if not reason.endswith((".", "!", "?")):
        reason += "."
    text = f"❌ {reason}"
    if task.state.is_refunded and task.cost > 0:
        text += (
            " Your credit was refunded."
            if task.cost == 1
            else f" Your {task.cost} credits were refunded."
        )
    return text


_LEFT_IN = {"day": "today", "week": "this week", "month": "this month"}


def cost_text(task: TaskRecord) -> str:
    """What the task costs, and what its requester had left once it was charged:
    `1 credit · 4 left today`; `2 credits · no limit`; `free`."""
    if task.cost == 0:
        return "free"
    cost = f"{task.cost} credit" if task.cost == 1 else f"{task.cost} credits"
    if task.credits_left is None or task.quota_window is None:
        return f"{cost} · no limit"
    return f"{cost} · {task.credits_left} left {_LEFT_IN[task.quota_window]}"


def _colour(state: TaskState) -> int:
    if state is TaskState.CANCELLED:
        return COLOUR_WAITING
    if state is TaskState.QUEUED:
        return COLOUR_WAITING
    if state is TaskState.AMBIGUOUS:
        return COLOUR_UNSURE
    if state is TaskState.DELIVERED:
        return COLOUR_DONE
    if state.is_terminal:
        return COLOUR_FAILED
    return COLOUR_WORKING


def _prompt_text(request: OmniRequest) -> str:
    lines = [request.prompt.strip()] if request.prompt.strip() else []
    for number, shot in enumerate(request.shots, start=1):
        lines.append(f"**Shot {number}** ({shot.duration_s} s): {shot.prompt.strip()}")
    return "\n".join(lines)


def _length(request: OmniRequest) -> str:
    if request.duration_s is None:
        return "as long as the video"
    return f"{request.duration_s} s"


def _frame(request: OmniRequest) -> str:
    if any(image.frame == "first_frame" for image in request.images):
        return "from the first frame"
    if request.base_video is not None:
        return "from the video"
    return request.aspect_ratio or "default"


def _sound(request: OmniRequest) -> str:
    if request.sound:
        return "on"
    if any(video.keep_original_sound for video in request.videos):
        return "the video's own"
    return "off"


def _inputs(request: OmniRequest) -> str:
    parts: list[str] = []
    frames = [image.frame for image in request.images if image.frame is not None]
    if "first_frame" in frames:
        parts.append("first frame")
    if "end_frame" in frames:
        parts.append("end frame")
    if references := len(request.reference_images):
        parts.append(plural(references, "image"))
    if request.elements:
        parts.append(plural(len(request.elements), "element"))
    for video in request.videos:
        parts.append("1 video (" + ("edit" if video.refer_type == "base" else "reference") + ")")
    if request.watermark:
        parts.append("watermark")
    return ", ".join(parts) or "text only"


def _elapsed(task: TaskRecord, now: datetime) -> str:
    end = task.finished_at if task.finished_at is not None else now
    took = human_duration((end - task.created_at).total_seconds())
    if task.is_terminal:
        return took
    # `<t:…:R>` keeps counting in the member's client between our (rate-limited) edits.
    return f"{took} (started <t:{int(task.created_at.timestamp())}:R>)"


# -- the result message ----------------------------------------------------------------------


def result_text(
    task: TaskRecord,
    form: Form,
    size_bytes: int | None,
    upload_limit: int,
    *,
    url: str | None = None,
    link_reason: str | None = None,
    has_buttons: bool = False,
) -> str:
    """The result message's content: ping the requester, name the task, and for a link say
    why it isn't attached (`link_reason` when the bot knows better than the sizes) and that it
    expires. Never the prompt (content pings; it's capped)."""
    ready = f"{_RESULT_PHRASE}! 🎬 {task_marker(task.id)}"
    head = ready[0].upper() + ready[1:] if task.user_id is None else f"<@{task.user_id}> {ready}"
    hint = (
        f"Press {RERUN_EMOJI} Rerun (or react with {RERUN_EMOJI}) to make another take."
        if has_buttons
        else f"React with {RERUN_EMOJI} to make another take."
    )
    if form is Form.FILE:
        return f"{head} · {hint}"
    link = url or task.result_url or ""
    limit = human_size(upload_limit)
    if link_reason is not None:
        why = link_reason
    elif size_bytes is None:
        why = f"It's too large to attach here (this server's upload limit is {limit})"
    elif size_bytes > upload_limit:
        size, limit = human_sizes_apart(size_bytes, upload_limit)
        why = f"It's {size}, too large to attach here (this server's upload limit is {limit})"
    else:
        why = "Discord wouldn't take it as an attachment"
    expiry = (
        f"Kling's links expire after {LINK_LIFETIME}: download the video if you want to keep it."
    )
    lines = [head, link, f"{why}, so this is Kling's own link. {expiry}", hint]
    # Only an absurd URL could overflow 2000; the optional lines go first, never the link.
    while len("\n".join(lines)) > CONTENT_MAX_CHARS and len(lines) > 2:
        lines.pop()
    return "\n".join(lines)


def private_result_text(
    task: TaskRecord,
    form: Form,
    size_bytes: int | None,
    upload_limit: int,
    *,
    url: str | None = None,
    channel_problem: str,
) -> str:
    """The result sent to the member in private because the channel refused it, saying why."""
    lead = f"Posting in <#{task.channel_id}> failed ({channel_problem}), so it comes to you here."
    text = f"{lead}\n{result_text(task, form, size_bytes, upload_limit, url=url)}"
    return (
        text
        if len(text) <= CONTENT_MAX_CHARS
        else result_text(task, form, size_bytes, upload_limit, url=url)
    )


def shown_state(task: TaskRecord) -> tuple[object, ...]:
    """What a status message shows of its task, its place in line and progress bar aside: the
    status messages edit one only when this changes."""
    return (
        task.state,
        task.progress_pct,
        task.attempts,
        task.failure_reason,
        task.delivery_message_id,
        task.status_message_id,
        task.cancelled_by,
    )

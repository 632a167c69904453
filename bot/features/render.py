"""What a member sees of a task: the status embed and the result message, as plain data.

Pure functions of a `TaskRecord` (plus the queue position and the time, passed in); nothing here
imports discord (`bot.discord.translate` turns a `StatusView` into an embed). Limits are
Discord's for embeds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.cancellation import cancellation_refunded
from bot.domain.i18n import N_, _, ngettext, translated
from bot.domain.lifecycle import TaskState
from bot.domain.progress import Progress, progress, progress_text
from bot.domain.quota_refusals import credits
from bot.domain.records import TaskRecord
from bot.domain.request import InputMode, OmniRequest
from bot.domain.wording import clip, human_duration, jump_url

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

COLOUR_WAITING = 0x99AAB5  # grey
COLOUR_WORKING = 0x5865F2  # blurple
COLOUR_DONE = 0x57F287  # green
COLOUR_FAILED = 0xED4245  # red
COLOUR_UNSURE = 0xFEE75C  # yellow

# In English here, in the reader's language where they are shown (`translated`).
_MODE_NAMES = {"std": N_("Standard"), "pro": N_("Pro")}
_KIND_NAMES = {
    InputMode.TEXT: N_("Text to video"),
    InputMode.FRAMES: N_("Video from a first frame"),
    InputMode.REFERENCE: N_("Video from references"),
    InputMode.EDIT: N_("Video edit"),
    InputMode.STORYBOARD: N_("Storyboard"),
}
_FAILURE_DEFAULTS = {
    TaskState.FAILED: N_("Kling couldn't make this video."),
    TaskState.REJECTED: N_("Kling refused the request."),
    TaskState.TIMED_OUT: N_("Kling took too long to make this video."),
    TaskState.UNDELIVERABLE: N_("The video was made but couldn't be posted here."),
}


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
    return _("Task #{id}").format(id=task_id)


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
    requested_by = _("the command line") if task.user_id is None else f"<@{task.user_id}>"
    mode = translated(_MODE_NAMES.get(request.mode, request.mode))
    fields: tuple[EmbedField, ...] = (
        EmbedField(_("Status"), clip(status, FIELD_VALUE_MAX_CHARS), False),
        EmbedField(_("Requested by"), requested_by),
        EmbedField(_("Model"), f"{request.model} ({mode})"),
        EmbedField(_("Length"), _length(request)),
        EmbedField(_("Frame"), _frame(request)),
        EmbedField(_("Sound"), _sound(request)),
        EmbedField(_("Inputs"), _inputs(request)),
        EmbedField(_("Took") if task.is_terminal else _("Elapsed"), _elapsed(task, now)),
    )
    if task.user_id is not None:
        fields += (EmbedField(_("Cost"), cost_text(task)),)
    title = translated(_KIND_NAMES[request.input_mode])
    if request.multi_shot and request.shots:
        title += " · " + _("{count} shots").format(count=len(request.shots))
    if task.rerun_of is not None:
        title = f"{RERUN_EMOJI} {title} · " + _("rerun of #{id}").format(id=task.rerun_of)
    elif task.edited_from is not None:
        title = f"{title} · " + _("edited from #{id}").format(id=task.edited_from)
    elif task.varied_from is not None:
        varied = _("variation of #{id}").format(id=task.varied_from)
        title = f"{VARIATION_EMOJI} {title} · {varied}"
    elif task.extends is not None:
        extension = _("Next shot · extension of #{id}").format(id=task.extends)
        title = f"{EXTEND_EMOJI} {extension}"
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
        text = (
            _("Waiting in line")
            if position is None
            else _("Waiting in line — position {position}").format(position=position)
        )
        if task.attempts:
            text += " " + _("(Kling was busy; it will be sent again shortly)")
        return text
    if state in (TaskState.SUBMITTING, TaskState.SUBMITTED):
        return _("Sent to Kling")
    if state is TaskState.PROCESSING:
        if task.progress_pct is None:
            return _("Rendering…")
        return _("Rendering… ({percent}%)").format(percent=task.progress_pct)
    if state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
        return _("Finishing up — posting the video")
    if state is TaskState.DELIVERED:
        if task.result_deleted_by is not None:
            return _("Done ✅ — the video was removed by {who}").format(
                who=f"<@{task.result_deleted_by}>"
            )
        if task.delivery_message_id is None or task.guild_id is None or task.channel_id is None:
            return _("Done ✅")
        link = jump_url(task.guild_id, task.channel_id, task.delivery_message_id)
        return _("Done ✅ — [jump to the video]({link})").format(link=link)
    if state is TaskState.AMBIGUOUS:
        return _("Checking with Kling whether the task was received")
    return _failure_text(task)


def _cancelled_text(task: TaskRecord) -> str:
    who = f"<@{task.cancelled_by}>"
    refunded = cancellation_refunded(
        was_created=task.api_task_id is not None, refund_running=task.cancel_refund
    )
    if task.is_terminal:
        text = _("Cancelled.") if task.cancelled_by is None else _("Cancelled by {who}.")
        if task.cost and refunded:
            text += " " + _refunded(task.cost)
        return f"{CANCEL_EMOJI} " + text.format(who=who)
    # Still at the API: Kling has no way to stop it, so it keeps its slot until it is done.
    text = (
        _("Cancelled: Kling is finishing it, and it won't be posted.")
        if task.cancelled_by is None
        else _("Cancelled by {who}: Kling is finishing it, and it won't be posted.")
    )
    if task.cost:
        text += " " + (
            ngettext(
                "Your credit will be refunded.", "Your {count} credits will be refunded.", task.cost
            )
            if refunded
            else _("The server is billed for it, so its credits stay used.")
        )
    return f"{CANCEL_EMOJI} " + text.format(who=who, count=task.cost)


def _refunded(cost: int) -> str:
    return ngettext(
        "Your credit was refunded.", "Your {count} credits were refunded.", cost
    ).format(count=cost)


def _failure_text(task: TaskRecord) -> str:
    # A reason is stored in English: a sentence the catalogue knows is shown translated.
    reason = translated((task.failure_reason or "").strip() or _FAILURE_DEFAULTS[task.state])
    reason = reason[0].upper() + reason[1:]
    if not reason.endswith((".", "!", "?")):
        reason += "."
    text = f"❌ {reason}"
    if task.state.is_refunded and task.cost > 0:
        text += " " + _refunded(task.cost)
    return text


_LEFT_IN = {
    "day": N_("{count} left today"),
    "week": N_("{count} left this week"),
    "month": N_("{count} left this month"),
}


def cost_text(task: TaskRecord) -> str:
    """What the task costs, and what its requester had left once it was charged:
    `1 credit · 4 left today`; `2 credits · no limit`; `free`."""
    if task.cost == 0:
        return _("free")
    cost = credits(task.cost)
    if task.credits_left is None or task.quota_window is None:
        return f"{cost} · " + _("no limit")
    left = translated(_LEFT_IN[task.quota_window]).format(count=task.credits_left)
    return f"{cost} · {left}"


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
        shot_name = _("Shot {number}").format(number=number)
        lines.append(f"**{shot_name}** ({shot.duration_s} s): {shot.prompt.strip()}")
    return "\n".join(lines)


def _length(request: OmniRequest) -> str:
    if request.duration_s is None:
        return _("as long as the video")
    return f"{request.duration_s} s"


def _frame(request: OmniRequest) -> str:
    if any(image.frame == "first_frame" for image in request.images):
        return _("from the first frame")
    if request.base_video is not None:
        return _("from the video")
    return request.aspect_ratio or _("default")


def _sound(request: OmniRequest) -> str:
    if request.sound:
        return _("on")
    if any(video.keep_original_sound for video in request.videos):
        return _("the video's own")
    return _("off")


def _inputs(request: OmniRequest) -> str:
    parts: list[str] = []
    frames = [image.frame for image in request.images if image.frame is not None]
    if "first_frame" in frames:
        parts.append(_("first frame"))
    if "end_frame" in frames:
        parts.append(_("end frame"))
    if references := len(request.reference_images):
        parts.append(
            ngettext("{count} image", "{count} images", references).format(count=references)
        )
    if elements := len(request.elements):
        parts.append(
            ngettext("{count} element", "{count} elements", elements).format(count=elements)
        )
    for video in request.videos:
        parts.append(
            _("1 video (edit)") if video.refer_type == "base" else _("1 video (reference)")
        )
    if request.watermark:
        parts.append(_("watermark"))
    return ", ".join(parts) or _("text only")


def _elapsed(task: TaskRecord, now: datetime) -> str:
    end = task.finished_at if task.finished_at is not None else now
    took = human_duration((end - task.created_at).total_seconds())
    if task.is_terminal:
        return took
    # `<t:…:R>` keeps counting in the member's client between our (rate-limited) edits.
    return _("{took} (started {when})").format(
        took=took, when=f"<t:{int(task.created_at.timestamp())}:R>"
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

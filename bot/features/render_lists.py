"""What a member sees of `/tasks`, `/task`, `/cancel` and `/element`: views and short sentences.

Pure functions of the use cases' results (time passed in where it matters); nothing here imports
discord. Views are `StatusView`s, so the cogs turn them into embeds the way status messages are.
Members and roles are named with mentions: inside an embed, and with no allowed mentions on the
message, a mention shows a name and pings nobody.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.domain.cancellation import CancelStep, cancellation_refunded
from bot.domain.lifecycle import TaskState
from bot.domain.quota import Limit
from bot.domain.records import LibraryElement, QuotaWindow, TaskEvent, TaskRecord
from bot.domain.wording import clip, jump_url, plural
from bot.features.cancel import Cancelled
from bot.features.quota_records import (
    LimitTarget,
)
from bot.features.render import (
    COLOUR_WAITING,
    COLOUR_WORKING,
    DESCRIPTION_MAX_CHARS,
    EMBED_MAX_CHARS,
    FIELD_VALUE_MAX_CHARS,
    EmbedField,
    StatusView,
    status_view,
)
from bot.features.task_history import TaskDetail, TaskPage

_PER_WINDOW = {"day": "a day", "week": "a week", "month": "a month"}
_BADGES: dict[TaskState, str] = {
    TaskState.QUEUED: "⏳ Queued",
    TaskState.SUBMITTING: "📤 Sending",
    TaskState.SUBMITTED: "📤 Sent",
    TaskState.PROCESSING: "🎞️ Rendering",
    TaskState.SUCCEEDED: "📦 Posting",
    TaskState.DELIVERING: "📦 Posting",
    TaskState.DELIVERED: "✅ Delivered",
    TaskState.FAILED: "❌ Failed",
    TaskState.REJECTED: "🚫 Rejected",
    TaskState.TIMED_OUT: "⌛ Timed out",
    TaskState.AMBIGUOUS: "❔ Checking",
    TaskState.UNDELIVERABLE: "⚠️ Not posted",
    TaskState.CANCELLED: "🛑 Cancelled",
}
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\*_~`|[]"})
LIST_PROMPT_CHARS = 60  # a task's prompt on its `/tasks` line
LIST_REASON_CHARS = 90  # a failure reason on its `/tasks` line
EVENT_DETAIL_CHARS = 90  # an event's detail in `/task`'s history


# -- small pieces ----------------------------------------------------------------------------


def discord_time(moment: datetime, style: str) -> str:
    """`<t:epoch:style>`: shown in each reader's own time zone (R relative, f full, T time)."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def limit_text(limit: Limit, window: QuotaWindow) -> str:
    """`5 credits a day`, `unlimited`, `blocked (0 credits)`."""
    if limit is None:
        return "unlimited"
    if limit == 0:
        return "blocked (0 credits)"
    return f"{plural(limit, 'credit')} {_PER_WINDOW[window]}"


def target_mention(target: LimitTarget, guild_id: int) -> str:
    """`<@id>` for a member, `<@&id>` for a role; the @everyone role by name (its id is the
    server's, and Discord shows `<@&server id>` as a broken mention)."""
    if target.kind == "member":
        return f"<@{target.id}>"
    if target.id == guild_id:
        return "@\u200beveryone"  # the zero-width space keeps it from ever being a ping
    return f"<@&{target.id}>"


def state_badge(state: TaskState) -> str:
    """An emoji and a word for a task's state: `✅ Delivered`."""
    return _BADGES[state]


def inline(text: str, limit: int) -> str:
    """Member text on one line of a list: whitespace collapsed, clipped, markdown escaped."""
    return clip(" ".join(text.split()), limit).translate(_MARKDOWN)


def fit_lines(lines: list[str], limit: int) -> str:
    """Lines joined, cut at a line boundary with a count of what was left out."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept = list(lines)
    while kept:
        kept.pop()
        more = f"… and {len(lines) - len(kept)} more"
        text = "\n".join([*kept, more])
        if len(text) <= limit:
            return text
    return clip("\n".join(lines), limit)


# -- /tasks ----------------------------------------------------------------------------------


def task_line(task: TaskRecord) -> str:
    """One `/tasks` line: number, state, prompt, when, and the video link or what went wrong."""
    request = task.request
    # A storyboard may have no prompt of its own: its first shot says what it is about.
    text = request.prompt.strip() or (request.shots[0].prompt if request.shots else "")
    prompt = inline(text or "(no prompt)", LIST_PROMPT_CHARS)
    parts = [f"`#{task.id}` {state_badge(task.state)}", prompt, discord_time(task.created_at, "R")]
    link = _result_link(task)
    if link is not None:
        parts.append(f"[video]({link})")
    elif task.state.is_terminal and task.failure_reason:
        parts.append(inline(task.failure_reason, LIST_REASON_CHARS))
    return " · ".join(parts)


def task_list_view(page: TaskPage) -> StatusView:
    """`/tasks`: a member's latest tasks, newest first, one line each."""
    whose = "You have" if page.is_own else f"<@{page.user_id}> has"
    kind = "" if page.state is None else f" {_state_word(page.state)}"
    if page.tasks:
        head = "Your" if page.is_own else f"<@{page.user_id}>'s"
        which = "earlier" if page.has_newer else "latest"
        lines = [f"{head} {which}{kind} tasks, newest first:", ""]
        lines += [task_line(task) for task in page.tasks]
    else:
        lines = [f"{whose} no{kind} tasks on this server yet."]
        if page.is_own and page.state is None:
            lines.append("Make one with `/video`.")
    footer = "/task id:<number> shows one task in full"
    if page.has_more or page.has_newer:
        footer += f" · #{page.tasks[0].id} to #{page.tasks[-1].id}; the buttons show more"
    return StatusView(
        title="🎬 Your tasks" if page.is_own else "🎬 Tasks",
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING if page.tasks else COLOUR_WAITING,
        footer=footer,
    )


# -- /task -----------------------------------------------------------------------------------


def task_detail_view(detail: TaskDetail, *, now: datetime) -> StatusView:
    """`/task id:`: the status embed, plus timings, cost, the result link and the history."""
    task = detail.task
    base = status_view(task, position=None, now=now)
    extra = [EmbedField("Timings", _timings(task), inline=False), EmbedField("Cost", _cost(task))]
    link = _result_link(task)
    if task.result_deleted_by is not None:
        when = (
            ""
            if task.result_deleted_at is None
            else f" {discord_time(task.result_deleted_at, 'R')}"
        )
        extra.append(EmbedField("Result", f"Removed by <@{task.result_deleted_by}>{when}"))
    elif link is not None:
        extra.append(EmbedField("Result", f"[Jump to the video]({link})"))
    elif task.result_url:
        extra.append(EmbedField("Result", f"[Kling's link]({task.result_url}) (it expires)"))
    family = _family(detail)
    if family:
        extra.append(EmbedField("Family", family, inline=False))
    extra.append(EmbedField("History", _history(detail), inline=False))
    # The status message's Cost says what was left at the charge; here, what it came to.
    kept = tuple(f for f in base.fields if f.name != "Cost")
    view = replace(base, fields=(*kept, *extra))
    # The added fields take room from the prompt, never the other way round.
    room = max(0, min(DESCRIPTION_MAX_CHARS, EMBED_MAX_CHARS - (view.size - len(view.description))))
    return replace(view, description=clip(view.description, room))


_MADE_AS = {"edit": "an edit", "variation": "a variation", "extension": "an extension"}


def _family(detail: TaskDetail) -> str:
    """`/task`'s family: the task it was made from, and those made from it (linked results)."""
    task = detail.task
    lines = []
    parent_id = task.rerun_of if task.rerun_of is not None else task.parent_id
    if parent_id is not None:
        how = "a rerun" if task.rerun_of is not None else _MADE_AS[task.parent_kind or "edit"]
        lines.append(f"{how.capitalize()} of {_task_ref(parent_id, detail.parent)}")
    if detail.children:
        made = [f"{_task_ref(c.id, c)} ({_child_kind(c)})" for c in detail.children]
        lines.append("Made from it: " + ", ".join(made))
    if len(detail.chain) > 1:
        shots = [f"**#{t.id}**" if t.id == task.id else _task_ref(t.id, t) for t in detail.chain]
        lines.append("Chain: " + " → ".join(shots))
    return clip("\n".join(lines), FIELD_VALUE_MAX_CHARS)


def _child_kind(child: TaskRecord) -> str:
    if child.rerun_of is not None:
        return "rerun"
    return child.parent_kind or "edit"


def _task_ref(task_id: int, task: TaskRecord | None) -> str:
    """`#12`, linked to its result when there is one to jump to."""
    link = None if task is None else _result_link(task)
    return f"[#{task_id}]({link})" if link else f"#{task_id}"


def _result_link(task: TaskRecord) -> str | None:
    if task.result_deleted_by is not None:
        return None
    if task.delivery_message_id is None or task.guild_id is None or task.channel_id is None:
        return None
    return jump_url(task.guild_id, task.channel_id, task.delivery_message_id)


def _timings(task: TaskRecord) -> str:
    lines = [f"Created {discord_time(task.created_at, 'f')} ({discord_time(task.created_at, 'R')})"]
    if task.submitted_at is not None:
        lines.append(f"Sent to Kling {discord_time(task.submitted_at, 'T')}")
    if task.finished_at is not None:
        lines.append(f"Finished {discord_time(task.finished_at, 'T')}")
    if task.attempts:
        lines.append(f"Kling was busy: sent back to the queue {plural(task.attempts, 'time')}")
    return "\n".join(lines)


def _cost(task: TaskRecord) -> str:
    text = plural(task.cost, "credit")
    refunded = task.state.is_refunded or (
        task.state is TaskState.CANCELLED
        and cancellation_refunded(
            was_created=task.api_task_id is not None, refund_running=task.cancel_refund
        )
    )
    return f"{text}, refunded" if refunded and task.cost else text


def _event_line(event: TaskEvent) -> str:
    moved = (
        f"created ({_state_word(event.to_state)})"
        if event.from_state is None
        else f"{_state_word(event.from_state)} → {_state_word(event.to_state)}"
    )
    line = f"{discord_time(event.at, 'T')} {moved}"
    if event.detail.strip():
        line += f" · {inline(event.detail, EVENT_DETAIL_CHARS)}"
    return line


def _state_word(state: TaskState) -> str:
    return state.value.replace("_", " ")


def _history(detail: TaskDetail) -> str:
    lines = [_event_line(event) for event in detail.events]
    earlier = detail.earlier_events
    while lines:
        head = [f"… {plural(earlier, 'earlier step')}"] if earlier else []
        text = "\n".join([*head, *lines])
        if len(text) <= FIELD_VALUE_MAX_CHARS:
            return text
        lines.pop(0)  # the oldest shown step gives way first
        earlier += 1
    return f"{plural(earlier, 'step')}, too long to show"


# -- /cancel ---------------------------------------------------------------------------------

CHOICE_NAME_CHARS = 100  # Discord's limit for an autocomplete choice's name


def cancel_choice_name(task: TaskRecord) -> str:
    """An autocomplete choice: `#12 · ⏳ Queued · a paper boat in the rain`."""
    head = f"#{task.id} · {state_badge(task.state)} · "
    words = task.request.prompt or " ".join(shot.prompt for shot in task.request.shots)
    return head + clip(" ".join(words.split()) or "(no prompt)", CHOICE_NAME_CHARS - len(head))


def cancel_text(cancelled: Cancelled) -> str:
    """What the member reads after `/cancel` (or the Cancel button)."""
    step, task = cancelled.step, cancelled.task
    number = f"Task #{task.id}"
    refunded = cancellation_refunded(
        was_created=task.api_task_id is not None, refund_running=task.cancel_refund
    )
    credits = plural(task.cost, "credit")
    if step is CancelStep.END_NOW:
        money = f" {credits} refunded." if refunded and task.cost else ""
        if task.api_task_id is None:
            return f"Cancelled {number.lower()}: it never reached Kling.{money}"
        return f"Cancelled {number.lower()}: Kling had made it, and it won't be posted.{money}"
    if step is CancelStep.MARK:
        money = (
            f" Your {credits} will be refunded."
            if refunded
            else f" The server is billed for it, so your {credits} stay used."
        )
        if not task.cost:
            money = ""
        return (
            f"Cancelled {number.lower()}. Kling is already rendering it and can't be stopped: "
            f"it won't be posted, and it keeps its place among the videos Kling is making "
            f"until it is done.{money}"
        )
    if step is CancelStep.TOO_LATE:
        return (
            f"{number} is being posted right now, too late to cancel. Once it is there, its "
            "🗑 Delete button removes it."
        )
    return f"{number} has already ended ({_state_word(task.state)}): there is nothing to cancel."


# -- /element --------------------------------------------------------------------------------


def element_list_view(elements: list[LibraryElement]) -> StatusView:
    """`/element list`: the server's library, by name."""
    if elements:
        lines = [
            f"**{inline(e.name, 40)}** — `{e.element_id}` (added by <@{e.added_by}>)"
            for e in elements
        ]
    else:
        lines = ["The library is empty. Moderators add elements with `/element add`."]
    return StatusView(
        title="📚 Element library",
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING if elements else COLOUR_WAITING,
        footer="Type a name in the elements option of /video or /storyboard; IDs work too.",
    )

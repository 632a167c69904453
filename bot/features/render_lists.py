"""What a member sees of `/tasks` and `/task`: views and short sentences (and the pieces the
other lists share: times, limits, mentions, state badges).

Pure functions of the use cases' results (time passed in where it matters); nothing here imports
discord. Views are `StatusView`s, so the cogs turn them into embeds the way status messages are.
Members and roles are named with mentions: inside an embed, and with no allowed mentions on the
message, a mention shows a name and pings nobody.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.domain.cancellation import cancellation_refunded
from bot.domain.i18n import N_, _, ngettext, translated
from bot.domain.lifecycle import TaskState
from bot.domain.quota import Limit
from bot.domain.quota_refusals import credits
from bot.domain.records import QuotaWindow, TaskEvent, TaskRecord
from bot.domain.wording import clip, jump_url
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

# In English here, in the reader's language where they are shown (`translated`).
_BADGES: dict[TaskState, tuple[str, str]] = {
    TaskState.QUEUED: ("⏳", N_("Queued")),
    TaskState.SUBMITTING: ("📤", N_("Sending")),
    TaskState.SUBMITTED: ("📤", N_("Sent")),
    TaskState.PROCESSING: ("🎞️", N_("Rendering")),
    TaskState.SUCCEEDED: ("📦", N_("Posting")),
    TaskState.DELIVERING: ("📦", N_("Posting")),
    TaskState.DELIVERED: ("✅", N_("Delivered")),
    TaskState.FAILED: ("❌", N_("Failed")),
    TaskState.REJECTED: ("🚫", N_("Rejected")),
    TaskState.TIMED_OUT: ("⌛", N_("Timed out")),
    TaskState.AMBIGUOUS: ("❔", N_("Checking")),
    TaskState.UNDELIVERABLE: ("⚠️", N_("Not posted")),
    TaskState.CANCELLED: ("🛑", N_("Cancelled")),
}
# A state as a word in a sentence or a task's history: `timed out`, `delivered`.
_STATE_WORDS: dict[TaskState, str] = {
    TaskState.QUEUED: N_("queued"),
    TaskState.SUBMITTING: N_("submitting"),
    TaskState.SUBMITTED: N_("submitted"),
    TaskState.PROCESSING: N_("processing"),
    TaskState.SUCCEEDED: N_("succeeded"),
    TaskState.DELIVERING: N_("delivering"),
    TaskState.DELIVERED: N_("delivered"),
    TaskState.FAILED: N_("failed"),
    TaskState.REJECTED: N_("rejected"),
    TaskState.TIMED_OUT: N_("timed out"),
    TaskState.AMBIGUOUS: N_("ambiguous"),
    TaskState.UNDELIVERABLE: N_("undeliverable"),
    TaskState.CANCELLED: N_("cancelled"),
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
        return _("unlimited")
    if limit == 0:
        return _("blocked (0 credits)")
    if window == "day":
        text = ngettext("{count} credit a day", "{count} credits a day", limit)
    elif window == "week":
        text = ngettext("{count} credit a week", "{count} credits a week", limit)
    else:
        text = ngettext("{count} credit a month", "{count} credits a month", limit)
    return text.format(count=limit)


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
    emoji, word = _BADGES[state]
    return f"{emoji} {translated(word)}"


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
        more = _("… and {count} more").format(count=len(lines) - len(kept))
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
    prompt = inline(text or _("(no prompt)"), LIST_PROMPT_CHARS)
    parts = [f"`#{task.id}` {state_badge(task.state)}", prompt, discord_time(task.created_at, "R")]
    link = _result_link(task)
    if link is not None:
        parts.append(_("[video]({link})").format(link=link))
    elif task.state.is_terminal and task.failure_reason:
        parts.append(inline(translated(task.failure_reason), LIST_REASON_CHARS))
    return " · ".join(parts)


def task_list_view(page: TaskPage) -> StatusView:
    """`/tasks`: a member's latest tasks, newest first, one line each."""
    if page.tasks:
        lines = [_list_head(page), ""]
        lines += [task_line(task) for task in page.tasks]
    else:
        lines = [_nothing_listed(page)]
        if page.is_own and page.state is None:
            lines.append(_("Make one with `/video`."))
    footer = _("/task id:<number> shows one task in full")
    if page.has_more or page.has_newer:
        footer += " · " + _("#{first} to #{last}; the buttons show more").format(
            first=page.tasks[0].id, last=page.tasks[-1].id
        )
    return StatusView(
        title="🎬 " + (_("Your tasks") if page.is_own else _("Tasks")),
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING if page.tasks else COLOUR_WAITING,
        footer=footer,
    )


def _list_head(page: TaskPage) -> str:
    """`Your latest tasks, newest first:` and its kin: whose, which page, which state."""
    earlier = page.has_newer
    if page.state is None:
        if page.is_own:
            head = (
                _("Your earlier tasks, newest first:")
                if earlier
                else _("Your latest tasks, newest first:")
            )
        else:
            head = (
                _("{member}'s earlier tasks, newest first:")
                if earlier
                else _("{member}'s latest tasks, newest first:")
            )
    elif page.is_own:
        head = (
            _("Your earlier {state} tasks, newest first:")
            if earlier
            else _("Your latest {state} tasks, newest first:")
        )
    else:
        head = (
            _("{member}'s earlier {state} tasks, newest first:")
            if earlier
            else _("{member}'s latest {state} tasks, newest first:")
        )
    return head.format(member=f"<@{page.user_id}>", state=_page_state(page))


def _nothing_listed(page: TaskPage) -> str:
    """`You have no tasks on this server yet.` and its kin."""
    if page.state is None:
        head = (
            _("You have no tasks on this server yet.")
            if page.is_own
            else _("{member} has no tasks on this server yet.")
        )
    else:
        head = (
            _("You have no {state} tasks on this server yet.")
            if page.is_own
            else _("{member} has no {state} tasks on this server yet.")
        )
    return head.format(member=f"<@{page.user_id}>", state=_page_state(page))


def _page_state(page: TaskPage) -> str:
    return "" if page.state is None else state_word(page.state)


# -- /task -----------------------------------------------------------------------------------


def task_detail_view(detail: TaskDetail, *, now: datetime) -> StatusView:
    """`/task id:`: the status embed, plus timings, cost, the result link and the history."""
    task = detail.task
    base = status_view(task, position=None, now=now)
    cost = _("Cost")
    extra = [EmbedField(_("Timings"), _timings(task), inline=False), EmbedField(cost, _cost(task))]
    link = _result_link(task)
    result = _("Result")
    if task.result_deleted_by is not None:
        who = f"<@{task.result_deleted_by}>"
        removed = (
            _("Removed by {member}").format(member=who)
            if task.result_deleted_at is None
            else _("Removed by {member} {when}").format(
                member=who, when=discord_time(task.result_deleted_at, "R")
            )
        )
        extra.append(EmbedField(result, removed))
    elif link is not None:
        extra.append(EmbedField(result, _("[Jump to the video]({link})").format(link=link)))
    elif task.result_url:
        extra.append(
            EmbedField(
                result, _("[Kling's link]({link}) (it expires)").format(link=task.result_url)
            )
        )
    family = _family(detail)
    if family:
        extra.append(EmbedField(_("Family"), family, inline=False))
    extra.append(EmbedField(_("History"), _history(detail), inline=False))
    # The status message's Cost says what was left at the charge; here, what it came to.
    kept = tuple(f for f in base.fields if f.name != cost)
    view = replace(base, fields=(*kept, *extra))
    # The added fields take room from the prompt, never the other way round.
    room = max(0, min(DESCRIPTION_MAX_CHARS, EMBED_MAX_CHARS - (view.size - len(view.description))))
    return replace(view, description=clip(view.description, room))


# In English here, in the reader's language where they are shown (`translated`).
_MADE_AS = {
    "rerun": N_("A rerun of {task}"),
    "edit": N_("An edit of {task}"),
    "variation": N_("A variation of {task}"),
    "extension": N_("An extension of {task}"),
}
_KIND_WORDS = {
    "rerun": N_("rerun"),
    "edit": N_("edit"),
    "variation": N_("variation"),
    "extension": N_("extension"),
}


def _family(detail: TaskDetail) -> str:
    """`/task`'s family: the task it was made from, and those made from it (linked results)."""
    task = detail.task
    lines = []
    parent_id = task.rerun_of if task.rerun_of is not None else task.parent_id
    if parent_id is not None:
        how = "rerun" if task.rerun_of is not None else task.parent_kind or "edit"
        made_as = translated(_MADE_AS[how])
        lines.append(made_as.format(task=_task_ref(parent_id, detail.parent)))
    if detail.children:
        made = [f"{_task_ref(c.id, c)} ({_child_kind(c)})" for c in detail.children]
        lines.append(_("Made from it: {tasks}").format(tasks=", ".join(made)))
    if len(detail.chain) > 1:
        shots = [f"**#{t.id}**" if t.id == task.id else _task_ref(t.id, t) for t in detail.chain]
        lines.append(_("Chain: {shots}").format(shots=" → ".join(shots)))
    return clip("\n".join(lines), FIELD_VALUE_MAX_CHARS)


def _child_kind(child: TaskRecord) -> str:
    kind = "rerun" if child.rerun_of is not None else child.parent_kind or "edit"
    return translated(_KIND_WORDS[kind])


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
    created = _("Created {date} ({relative})").format(
        date=discord_time(task.created_at, "f"), relative=discord_time(task.created_at, "R")
    )
    lines = [created]
    if task.submitted_at is not None:
        lines.append(_("Sent to Kling {time}").format(time=discord_time(task.submitted_at, "T")))
    if task.finished_at is not None:
        lines.append(_("Finished {time}").format(time=discord_time(task.finished_at, "T")))
    if task.attempts:
        lines.append(
            ngettext(
                "Kling was busy: sent back to the queue {count} time",
                "Kling was busy: sent back to the queue {count} times",
                task.attempts,
            ).format(count=task.attempts)
        )
    return "\n".join(lines)


def _cost(task: TaskRecord) -> str:
    refunded = task.state.is_refunded or (
        task.state is TaskState.CANCELLED
        and cancellation_refunded(
            was_created=task.api_task_id is not None, refund_running=task.cancel_refund
        )
    )
    if refunded and task.cost:
        return ngettext("{count} credit, refunded", "{count} credits, refunded", task.cost).format(
            count=task.cost
        )
    return credits(task.cost)


def _event_line(event: TaskEvent) -> str:
    moved = (
        _("created ({state})").format(state=state_word(event.to_state))
        if event.from_state is None
        else f"{state_word(event.from_state)} → {state_word(event.to_state)}"
    )
    line = f"{discord_time(event.at, 'T')} {moved}"
    if event.detail.strip():
        line += f" · {inline(translated(event.detail), EVENT_DETAIL_CHARS)}"
    return line


def state_word(state: TaskState) -> str:
    """A state as a word in a sentence: `timed out`."""
    return translated(_STATE_WORDS[state])


def _history(detail: TaskDetail) -> str:
    lines = [_event_line(event) for event in detail.events]
    earlier = detail.earlier_events
    while lines:
        head = (
            ["… " + ngettext("{count} earlier step", "{count} earlier steps", earlier)]
            if earlier
            else []
        )
        head = [line.format(count=earlier) for line in head]
        text = "\n".join([*head, *lines])
        if len(text) <= FIELD_VALUE_MAX_CHARS:
            return text
        lines.pop(0)  # the oldest shown step gives way first
        earlier += 1
    return ngettext(
        "{count} step, too long to show", "{count} steps, too long to show", earlier
    ).format(count=earlier)

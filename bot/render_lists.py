"""What a member sees of `/quota`, `/tasks` and `/task`: embed-ready views and short sentences.

Pure functions of the use cases' results (time passed in where it matters); nothing here imports
discord. Views are `StatusView`s, so the cogs turn them into embeds the way status messages are.
Members and roles are named with mentions: inside an embed, and with no allowed mentions on the
message, a mention shows a name and pings nobody.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.cancel_service import Cancelled
from bot.cancellation import CancelStep, cancellation_refunded
from bot.lifecycle import TaskState
from bot.quota import Limit, ResolvedLimit
from bot.quota_service import (
    LimitTarget,
    ModeratorRoles,
    OverrideChange,
    OverrideListing,
    QuotaStatus,
    ResetResult,
    ServerBudget,
)
from bot.records import LibraryElement, QuotaOverride, QuotaWindow, TaskEvent, TaskRecord
from bot.render import (
    COLOUR_DONE,
    COLOUR_FAILED,
    COLOUR_WAITING,
    COLOUR_WORKING,
    DESCRIPTION_MAX_CHARS,
    EMBED_MAX_CHARS,
    FIELD_VALUE_MAX_CHARS,
    EmbedField,
    StatusView,
    clip,
    jump_url,
    status_view,
)
from bot.task_queries import TaskDetail, TaskPage

_PER_WINDOW = {"day": "a day", "week": "a week", "month": "a month"}
_THIS_WINDOW = {"day": "today", "week": "this week", "month": "this month"}
_WINDOW_NAMES = {"day": "Daily", "week": "Weekly (Monday to Sunday, UTC)", "month": "Monthly"}
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


def plural(count: int, noun: str) -> str:
    """`1 credit`, `2 credits`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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


def _inline(text: str, limit: int) -> str:
    """Member text on one line of a list: whitespace collapsed, clipped, markdown escaped."""
    return clip(" ".join(text.split()), limit).translate(_MARKDOWN)


# -- /quota ----------------------------------------------------------------------------------


def quota_view(status: QuotaStatus, *, is_self: bool) -> StatusView:
    """`/quota show`: used and left, the limit and where it comes from, reset time, in flight."""
    who, have = ("You", "have") if is_self else (f"<@{status.user_id}>", "has")
    used = plural(status.used, "credit")
    when = _THIS_WINDOW[status.window]
    if status.limit == 0:
        summary = f"{who} can't make videos on this server: the limit is 0 credits."
    elif status.limit is None:
        summary = f"{who} {have} used {used} {when}. There's no limit."
    else:
        summary = (
            f"{who} {have} used **{status.used} of {plural(status.limit, 'credit')}** {when}: "
            f"**{status.remaining} left**."
        )
    if status.video_cost is not None and status.limit:
        summary += f" A video costs {plural(status.video_cost, 'credit')}."
    in_flight = str(status.in_flight)
    if status.max_in_flight is not None:
        in_flight = f"{status.in_flight} of {status.max_in_flight} at once"
    fields = (
        EmbedField("Limit", limit_text(status.limit, status.window)),
        EmbedField("Set by", _source_text(status)),
        EmbedField("In progress", in_flight),
        *(() if status.video_cost is None else (EmbedField("A video costs", _video_cost(status)),)),
        EmbedField(
            "Window",
            f"{_WINDOW_NAMES[status.window]}; resets {discord_time(status.resets_at, 'R')} "
            f"({discord_time(status.resets_at, 'f')})",
            inline=False,
        ),
    )
    is_spent = status.remaining == 0
    return StatusView(
        title="📊 Your quota" if is_self else "📊 Quota",
        description=summary,
        fields=fields,
        colour=COLOUR_FAILED if is_spent else COLOUR_DONE,
        footer="Videos that fail give their credits back.",
    )


def _video_cost(status: QuotaStatus) -> str:
    assert status.video_cost is not None
    text = plural(status.video_cost, "credit") if status.video_cost else "nothing"
    if status.cost_varies:
        text += " with the server's defaults; the mode and the length change it"
    return text


def _source_text(status: QuotaStatus) -> str:
    if status.source == "member":
        return "a member override"
    if status.source == "role":
        if status.source_role_id is None:
            return "a role override"
        role = LimitTarget("role", status.source_role_id)
        return f"the {target_mention(role, status.guild_id)} role"
    if status.source == "server":
        return "the server's default"
    return "the bot's default"


def server_budget_view(budget: ServerBudget) -> StatusView:
    """`/quota server`: the whole server's use against its budget, the reset, who spent most."""
    when = _THIS_WINDOW[budget.window]
    if budget.limit is None:
        summary = (
            f"This server has used {plural(budget.used, 'credit')} {when}. There's no budget "
            "for the whole server: each member's own quota is the only limit."
        )
    elif budget.limit == 0:
        summary = "This server's budget is 0 credits: nobody can make videos until it is raised."
    else:
        summary = (
            f"This server has used **{budget.used} of {plural(budget.limit, 'credit')}** "
            f"{when}: **{budget.remaining} left**."
        )
    origin = "set with `/quota server`" if budget.source == "server" else "the bot's default"
    fields = [
        EmbedField("Budget", f"{limit_text(budget.limit, budget.window)} ({origin})"),
        EmbedField(
            "Window",
            f"{_WINDOW_NAMES[budget.window]}; resets {discord_time(budget.resets_at, 'R')} "
            f"({discord_time(budget.resets_at, 'f')})",
            inline=False,
        ),
    ]
    if budget.top:
        lines = [f"<@{user}> — {plural(spent, 'credit')}" for user, spent in budget.top]
        fields.append(EmbedField(f"Most used {when}", "\n".join(lines), inline=False))
    return StatusView(
        title="🏦 Server budget",
        description=summary,
        fields=tuple(fields),
        colour=COLOUR_FAILED if budget.remaining == 0 else COLOUR_DONE,
        footer="Each video is charged to the member's quota and to this budget at once.",
    )


def moderator_roles_text(roles: ModeratorRoles, *, role_id: int | None = None) -> str:
    """`/quota moderators …`: what changed, then who moderates the bot here."""
    lines = []
    if role_id is not None:
        mention = f"<@&{role_id}>"
        if not roles.changed:
            lines.append(f"Nothing changed for {mention}.")
        elif role_id in roles.role_ids:
            lines.append(f"Updated: {mention} is now a moderator role.")
        else:
            lines.append(f"Updated: {mention} is no longer a moderator role.")
    here = ", ".join(f"<@&{r}>" for r in roles.role_ids) or "none yet"
    lines.append(f"Moderator roles set here: {here}.")
    if roles.config_roles:
        named = ", ".join(str(r) for r in roles.config_roles)
        lines.append(f"From the bot's config (every server): {named}.")
    lines.append("Members with Manage Server (or Administrator) moderate the bot too.")
    return "\n".join(lines)


def override_set_text(change: OverrideChange) -> str:
    """What a moderator reads after `/quota set`."""
    override = change.override
    who = target_mention(change.target, override.guild_id)
    if override.target_kind == "role":
        return (
            f"Members with {who} {_now_get(override.limit, change.window, many=True)}, unless a "
            "member override says otherwise. With several roles, a member gets the most generous."
        )
    text = f"{who} {_now_get(override.limit, change.window, many=False)}."
    if override.limit:
        text += f" What they have used {_THIS_WINDOW[change.window]} counts towards it."
    return text


def _now_get(limit: Limit, window: QuotaWindow, *, many: bool) -> str:
    """`now get(s) 3 credits a day`, `now have/has no limit`, `are/is now blocked …`."""
    if limit is None:
        return "now have no limit" if many else "now has no limit"
    if limit == 0:
        return ("are" if many else "is") + " now blocked: no videos (0 credits)"
    return ("now get " if many else "now gets ") + limit_text(limit, window)


def default_set_text(base: ResolvedLimit) -> str:
    """What a moderator reads after `/quota default`."""
    return (
        f"Members without an override {_now_get(base.limit, base.window, many=True)}: "
        "that is the server's default."
    )


def reset_text(result: ResetResult) -> str:
    """What a moderator reads after `/quota reset`."""
    status = result.status
    who = f"<@{status.user_id}>"
    when = _THIS_WINDOW[status.window]
    if result.forgiven == 0:
        text = f"{who} had no finished use to forget {when}."
    else:
        text = f"Forgot {plural(result.forgiven, 'credit')} of {who}'s use {when}."
    if status.remaining is not None:
        text += f" They have {plural(status.remaining, 'credit')} left."
    if status.in_flight:
        # The store keeps these charged: each still ends in a refund or a kept charge.
        text += f" Videos still in progress ({status.in_flight}) stay counted."
    return text


def cleared_text(target: LimitTarget, guild_id: int, *, removed: bool) -> str:
    """What a moderator reads after `/quota clear`."""
    who = target_mention(target, guild_id)
    if not removed:
        return f"{who} had no override; nothing changed."
    if target.kind == "role":
        return f"Removed the override of {who}: its members fall back to the server's default."
    return f"Removed {who}'s override: their roles or the server's default apply again."


def override_list_view(listing: OverrideListing, guild_id: int) -> StatusView:
    """`/quota list`: the default, then every member and role override."""
    base = listing.base
    origin = "set by the server" if base.source == "server" else "the bot's default"
    head = f"Everyone else: **{limit_text(base.limit, base.window)}** ({origin})."
    members = [o for o in listing.overrides if o.target_kind == "member"]
    roles = [o for o in listing.overrides if o.target_kind == "role"]
    lines = [head]
    for title, group in (("Members", members), ("Roles", roles)):
        if group:
            lines += ["", f"**{title}**"]
            lines += [_override_line(listing, o, guild_id) for o in group]
    if not listing.overrides:
        lines += ["", "No overrides yet: set one with `/quota set`."]
    return StatusView(
        title="📋 Quota overrides",
        description=_fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING,
        footer="A member override beats role overrides; of several roles, the most generous wins.",
    )


def _override_line(listing: OverrideListing, override: QuotaOverride, guild_id: int) -> str:
    who = target_mention(LimitTarget(override.target_kind, override.target_id), guild_id)
    return f"{who} — {limit_text(override.limit, listing.window_of(override))}"


def _fit_lines(lines: list[str], limit: int) -> str:
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
    prompt = _inline(text or "(no prompt)", LIST_PROMPT_CHARS)
    parts = [f"`#{task.id}` {state_badge(task.state)}", prompt, discord_time(task.created_at, "R")]
    link = _result_link(task)
    if link is not None:
        parts.append(f"[video]({link})")
    elif task.state.is_terminal and task.failure_reason:
        parts.append(_inline(task.failure_reason, LIST_REASON_CHARS))
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
        description=_fit_lines(lines, DESCRIPTION_MAX_CHARS),
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
        line += f" · {_inline(event.detail, EVENT_DETAIL_CHARS)}"
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
            f"**{_inline(e.name, 40)}** — `{e.element_id}` (added by <@{e.added_by}>)"
            for e in elements
        ]
    else:
        lines = ["The library is empty. Moderators add elements with `/element add`."]
    return StatusView(
        title="📚 Element library",
        description=_fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING if elements else COLOUR_WAITING,
        footer="Type a name in the elements option of /video or /storyboard; IDs work too.",
    )

"""What a member sees of `/quota`: embed-ready views and short sentences.

Pure functions of the use cases' results; nothing here imports discord. Members and roles are
named with mentions: inside an embed, and with no allowed mentions on the message, a mention
shows a name and pings nobody.
"""

from __future__ import annotations

from bot.domain.quota import Limit, ResolvedLimit
from bot.domain.records import QuotaOverride, QuotaWindow
from bot.domain.wording import plural
from bot.features.quota_records import (
    LimitTarget,
    ModeratorRoles,
    OverrideChange,
    OverrideListing,
    QuotaStatus,
    ResetResult,
    ServerBudget,
)
from bot.features.render import (
    COLOUR_DONE,
    COLOUR_FAILED,
    COLOUR_WORKING,
    DESCRIPTION_MAX_CHARS,
    EmbedField,
    StatusView,
)
from bot.features.render_lists import discord_time, fit_lines, limit_text, target_mention

_THIS_WINDOW = {"day": "today", "week": "this week", "month": "this month"}
_WINDOW_NAMES = {"day": "Daily", "week": "Weekly (Monday to Sunday, UTC)", "month": "Monthly"}


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
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING,
        footer="A member override beats role overrides; of several roles, the most generous wins.",
    )


def _override_line(listing: OverrideListing, override: QuotaOverride, guild_id: int) -> str:
    who = target_mention(LimitTarget(override.target_kind, override.target_id), guild_id)
    return f"{who} — {limit_text(override.limit, listing.window_of(override))}"

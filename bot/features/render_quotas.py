"""What a member sees of `/quota`: embed-ready views and short sentences.

Pure functions of the use cases' results; nothing here imports discord. Members and roles are
named with mentions: inside an embed, and with no allowed mentions on the message, a mention
shows a name and pings nobody. Every sentence is whole, one msgid per case, in the reader's
language (`bot.domain.i18n`).
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.i18n import N_, _, ngettext, translated
from bot.domain.quota import Limit, ResolvedLimit
from bot.domain.quota_refusals import credits, this_window
from bot.domain.records import QuotaOverride, QuotaWindow
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

# In English here, in the reader's language where they are shown (`translated`).
_WINDOW_NAMES = {
    "day": N_("Daily"),
    "week": N_("Weekly (Monday to Sunday, UTC)"),
    "month": N_("Monthly"),
}


def quota_view(status: QuotaStatus, *, is_self: bool) -> StatusView:
    """`/quota show`: used and left, the limit and where it comes from, reset time, in flight."""
    summary = _quota_summary(status, is_self=is_self)
    if status.video_cost is not None and status.limit:
        cost = status.video_cost
        summary += " " + ngettext(
            "A video costs {count} credit.", "A video costs {count} credits.", cost
        ).format(count=cost)
    in_flight = str(status.in_flight)
    if status.max_in_flight is not None:
        in_flight = _("{count} of {most} at once").format(
            count=status.in_flight, most=status.max_in_flight
        )
    fields = (
        EmbedField(_("Limit"), limit_text(status.limit, status.window)),
        EmbedField(_("Set by"), _source_text(status)),
        EmbedField(_("In progress"), in_flight),
        *(
            ()
            if status.video_cost is None
            else (EmbedField(_("A video costs"), _video_cost(status)),)
        ),
        EmbedField(_("Window"), _window_text(status.window, status.resets_at), inline=False),
    )
    is_spent = status.remaining == 0
    return StatusView(
        title="📊 " + (_("Your quota") if is_self else _("Quota")),
        description=summary,
        fields=fields,
        colour=COLOUR_FAILED if is_spent else COLOUR_DONE,
        footer=_("Videos that fail give their credits back."),
    )


def _quota_summary(status: QuotaStatus, *, is_self: bool) -> str:
    """The first sentence of `/quota show`, for oneself or for another member."""
    member, when = f"<@{status.user_id}>", this_window(status.window)
    if status.limit == 0:
        if is_self:
            return _("You can't make videos on this server: the limit is 0 credits.")
        return _("{member} can't make videos on this server: the limit is 0 credits.").format(
            member=member
        )
    if status.limit is None:
        used = status.used
        if is_self:
            sentence = ngettext(
                "You have used {count} credit {when}. There's no limit.",
                "You have used {count} credits {when}. There's no limit.",
                used,
            )
        else:
            sentence = ngettext(
                "{member} has used {count} credit {when}. There's no limit.",
                "{member} has used {count} credits {when}. There's no limit.",
                used,
            )
        return sentence.format(member=member, count=used, when=when)
    limit = status.limit
    if is_self:
        sentence = ngettext(
            "You have used **{used} of {count} credit** {when}: **{remaining} left**.",
            "You have used **{used} of {count} credits** {when}: **{remaining} left**.",
            limit,
        )
    else:
        sentence = ngettext(
            "{member} has used **{used} of {count} credit** {when}: **{remaining} left**.",
            "{member} has used **{used} of {count} credits** {when}: **{remaining} left**.",
            limit,
        )
    return sentence.format(
        member=member, used=status.used, count=limit, when=when, remaining=status.remaining
    )


def _window_text(window: QuotaWindow, resets_at: datetime) -> str:
    """`Daily; resets in 3 hours (2 March 2026 00:00)`."""
    return _("{window}; resets {relative} ({date})").format(
        window=translated(_WINDOW_NAMES[window]),
        relative=discord_time(resets_at, "R"),
        date=discord_time(resets_at, "f"),
    )


def _video_cost(status: QuotaStatus) -> str:
    assert status.video_cost is not None
    text = credits(status.video_cost) if status.video_cost else _("nothing")
    if status.cost_varies:
        return _("{cost} with the server's defaults; the mode and the length change it").format(
            cost=text
        )
    return text


def _source_text(status: QuotaStatus) -> str:
    if status.source == "member":
        return _("a member override")
    if status.source == "role":
        if status.source_role_id is None:
            return _("a role override")
        role = LimitTarget("role", status.source_role_id)
        return _("the {role} role").format(role=target_mention(role, status.guild_id))
    if status.source == "server":
        return _("the server's default")
    return _("the bot's default")


def server_budget_view(budget: ServerBudget) -> StatusView:
    """`/quota server`: the whole server's use against its budget, the reset, who spent most."""
    when = this_window(budget.window)
    if budget.limit is None:
        summary = ngettext(
            "This server has used {count} credit {when}. There's no budget for the whole "
            "server: each member's own quota is the only limit.",
            "This server has used {count} credits {when}. There's no budget for the whole "
            "server: each member's own quota is the only limit.",
            budget.used,
        ).format(count=budget.used, when=when)
    elif budget.limit == 0:
        summary = _("This server's budget is 0 credits: nobody can make videos until it is raised.")
    else:
        summary = ngettext(
            "This server has used **{used} of {count} credit** {when}: **{remaining} left**.",
            "This server has used **{used} of {count} credits** {when}: **{remaining} left**.",
            budget.limit,
        ).format(used=budget.used, count=budget.limit, when=when, remaining=budget.remaining)
    origin = _("set with `/quota server`") if budget.source == "server" else _("the bot's default")
    fields = [
        EmbedField(_("Budget"), f"{limit_text(budget.limit, budget.window)} ({origin})"),
        EmbedField(_("Window"), _window_text(budget.window, budget.resets_at), inline=False),
    ]
    if budget.top:
        lines = [f"<@{user}> — {credits(spent)}" for user, spent in budget.top]
        fields.append(
            EmbedField(_("Most used {when}").format(when=when), "\n".join(lines), inline=False)
        )
    return StatusView(
        title="🏦 " + _("Server budget"),
        description=summary,
        fields=tuple(fields),
        colour=COLOUR_FAILED if budget.remaining == 0 else COLOUR_DONE,
        footer=_("Each video is charged to the member's quota and to this budget at once."),
    )


def moderator_roles_text(roles: ModeratorRoles, *, role_id: int | None = None) -> str:
    """`/quota moderators …`: what changed, then who moderates the bot here."""
    lines = []
    if role_id is not None:
        mention = f"<@&{role_id}>"
        if not roles.changed:
            lines.append(_("Nothing changed for {role}.").format(role=mention))
        elif role_id in roles.role_ids:
            lines.append(_("Updated: {role} is now a moderator role.").format(role=mention))
        else:
            lines.append(_("Updated: {role} is no longer a moderator role.").format(role=mention))
    here = ", ".join(f"<@&{r}>" for r in roles.role_ids) or _("none yet")
    lines.append(_("Moderator roles set here: {roles}.").format(roles=here))
    if roles.config_roles:
        named = ", ".join(str(r) for r in roles.config_roles)
        lines.append(_("From the bot's config (every server): {roles}.").format(roles=named))
    lines.append(_("Members with Manage Server (or Administrator) moderate the bot too."))
    return "\n".join(lines)


def _by_limit(limit: Limit, *, unlimited: str, blocked: str, limited: str) -> str:
    """The one of three sentences (already in the reader's language) that fits the limit."""
    if limit is None:
        return unlimited
    return blocked if limit == 0 else limited


def override_set_text(change: OverrideChange) -> str:
    """What a moderator reads after `/quota set`."""
    override = change.override
    who = target_mention(change.target, override.guild_id)
    limit = limit_text(override.limit, change.window)
    if override.target_kind == "role":
        sentence = _by_limit(
            override.limit,
            unlimited=_(
                "Members with {role} now have no limit, unless a member override says otherwise."
            ),
            blocked=_(
                "Members with {role} are now blocked: no videos (0 credits), unless a member "
                "override says otherwise."
            ),
            limited=_(
                "Members with {role} now get {limit}, unless a member override says otherwise."
            ),
        )
        return (
            sentence.format(role=who, limit=limit)
            + " "
            + _("With several roles, a member gets the most generous.")
        )
    text = _by_limit(
        override.limit,
        unlimited=_("{member} now has no limit."),
        blocked=_("{member} is now blocked: no videos (0 credits)."),
        limited=_("{member} now gets {limit}."),
    ).format(member=who, limit=limit)
    if override.limit:
        text += " " + _("What they have used {when} counts towards it.").format(
            when=this_window(change.window)
        )
    return text


def default_set_text(base: ResolvedLimit) -> str:
    """What a moderator reads after `/quota default`."""
    return _by_limit(
        base.limit,
        unlimited=_("Members without an override now have no limit: that is the server's default."),
        blocked=_(
            "Members without an override are now blocked: no videos (0 credits): that is the "
            "server's default."
        ),
        limited=_("Members without an override now get {limit}: that is the server's default."),
    ).format(limit=limit_text(base.limit, base.window))


def reset_text(result: ResetResult) -> str:
    """What a moderator reads after `/quota reset`."""
    status = result.status
    who = f"<@{status.user_id}>"
    when = this_window(status.window)
    forgiven = result.forgiven
    if forgiven == 0:
        text = _("{member} had no finished use to forget {when}.").format(member=who, when=when)
    else:
        text = ngettext(
            "Forgot {count} credit of {member}'s use {when}.",
            "Forgot {count} credits of {member}'s use {when}.",
            forgiven,
        ).format(count=forgiven, member=who, when=when)
    if status.remaining is not None:
        left = status.remaining
        text += " " + ngettext(
            "They have {count} credit left.", "They have {count} credits left.", left
        ).format(count=left)
    if status.in_flight:
        # The store keeps these charged: each still ends in a refund or a kept charge.
        text += " " + _("Videos still in progress ({count}) stay counted.").format(
            count=status.in_flight
        )
    return text


def cleared_text(target: LimitTarget, guild_id: int, *, removed: bool) -> str:
    """What a moderator reads after `/quota clear`."""
    who = target_mention(target, guild_id)
    if not removed:
        return _("{target} had no override; nothing changed.").format(target=who)
    if target.kind == "role":
        return _(
            "Removed the override of {role}: its members fall back to the server's default."
        ).format(role=who)
    return _(
        "Removed {member}'s override: their roles or the server's default apply again."
    ).format(member=who)


def override_list_view(listing: OverrideListing, guild_id: int) -> StatusView:
    """`/quota list`: the default, then every member and role override."""
    base = listing.base
    origin = _("set by the server") if base.source == "server" else _("the bot's default")
    head = _("Everyone else: **{limit}** ({origin}).").format(
        limit=limit_text(base.limit, base.window), origin=origin
    )
    members = [o for o in listing.overrides if o.target_kind == "member"]
    roles = [o for o in listing.overrides if o.target_kind == "role"]
    lines = [head]
    for title, group in ((_("Members"), members), (_("Roles"), roles)):
        if group:
            lines += ["", f"**{title}**"]
            lines += [_override_line(listing, o, guild_id) for o in group]
    if not listing.overrides:
        lines += ["", _("No overrides yet: set one with `/quota set`.")]
    return StatusView(
        title="📋 " + _("Quota overrides"),
        description=fit_lines(lines, DESCRIPTION_MAX_CHARS),
        fields=(),
        colour=COLOUR_WORKING,
        footer=_(
            "A member override beats role overrides; of several roles, the most generous wins."
        ),
    )


def _override_line(listing: OverrideListing, override: QuotaOverride, guild_id: int) -> str:
    who = target_mention(LimitTarget(override.target_kind, override.target_id), guild_id)
    return f"{who} — {limit_text(override.limit, listing.window_of(override))}"

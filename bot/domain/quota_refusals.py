"""What a member reads when a quota refuses a video, in the member's language.

The store decides (in the transaction that would charge) and raises `QuotaExceeded` with one of
these sentences; it runs in the member's interaction, so `_()` speaks the member's language.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.i18n import N_, _, ngettext, translated
from bot.domain.records import QuotaCheck, QuotaWindow, ServerBudgetCheck

_THIS_WINDOW = {"day": N_("today"), "week": N_("this week"), "month": N_("this month")}
_PER_WINDOW = {"day": N_("a day"), "week": N_("a week"), "month": N_("a month")}


def credits(count: int) -> str:
    """`1 credit`, `5 credits` (in the current language)."""
    return ngettext("{count} credit", "{count} credits", count).format(count=count)


def when(moment: datetime) -> str:
    """`<t:…:R> (2025-01-16 00:00 UTC)`: relative in the member's client, exact in plain text."""
    exact = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<t:{int(moment.timestamp())}:R> ({exact})"


def this_window(window: QuotaWindow) -> str:
    """`today`, `this week`, `this month`."""
    return translated(_THIS_WINDOW[window])


def member_blocked() -> str:
    """A member whose quota a moderator set to 0."""
    return _("You can't make videos on this server: a moderator set your quota to 0 credits.")


def credits_refusal(quota: QuotaCheck, used: int, cost: int) -> str:
    """The window's credits can't cover `cost`: what it costs, what is left, when it resets."""
    assert quota.limit is not None
    if cost > quota.limit:
        return ngettext(
            "This video costs {count} credit, more than your whole quota of {quota} {per}.",
            "This video costs {count} credits, more than your whole quota of {quota} {per}.",
            cost,
        ).format(
            count=cost,
            quota=credits(quota.limit),
            per=translated(_PER_WINDOW[quota.window]),
        )
    return ngettext(
        "This video costs {count} credit and you have {left} left: you have used {used} of "
        "your {quota} {when}. Your quota resets {resets}.",
        "This video costs {count} credits and you have {left} left: you have used {used} of "
        "your {quota} {when}. Your quota resets {resets}.",
        cost,
    ).format(
        count=cost,
        left=max(quota.limit - used, 0),
        used=used,
        quota=credits(quota.limit),
        when=this_window(quota.window),
        resets=when(quota.resets_at),
    )


def member_in_flight(running: int, cap: int) -> str:
    """A member with as many videos in progress as a member may have."""
    return ngettext(
        "You already have {count} video in progress; a member may have {cap} at once. Try "
        "again when one has finished.",
        "You already have {count} videos in progress; a member may have {cap} at once. Try "
        "again when one has finished.",
        running,
    ).format(count=running, cap=cap)


def server_in_flight(running: int, cap: int) -> str:
    """A server with as many videos in progress as it may have."""
    return ngettext(
        "This server already has {count} video in progress; it may have {cap} at once. Try "
        "again in a few minutes.",
        "This server already has {count} videos in progress; it may have {cap} at once. Try "
        "again in a few minutes.",
        running,
    ).format(count=running, cap=cap)


def server_blocked() -> str:
    """A server whose budget a moderator set to 0."""
    return _(
        "This server's video budget is 0 credits: no videos until a moderator raises it with "
        "`/quota server`."
    )


def server_budget_refusal(budget: ServerBudgetCheck, spent: int, cost: int) -> str:
    """The server's budget can't cover `cost`."""
    return ngettext(
        "This video costs {count} credit and the server has {left} left: it has used {spent} "
        "of its {budget} {when}. The server's budget resets {resets}.",
        "This video costs {count} credits and the server has {left} left: it has used {spent} "
        "of its {budget} {when}. The server's budget resets {resets}.",
        cost,
    ).format(
        count=cost,
        left=max(budget.limit - spent, 0),
        spent=spent,
        budget=credits(budget.limit),
        when=this_window(budget.window),
        resets=when(budget.resets_at),
    )

"""Quota rules: which limit applies to a member, and when its window starts and resets.

Pure: time and the stored overrides are passed in. The ledger arithmetic itself (atomic charge,
refund) lives in the store, inside the transaction that creates or ends a task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.domain.records import (
    GuildSettings,
    QuotaCheck,
    QuotaOverride,
    QuotaWindow,
    ServerBudgetCheck,
)

Limit = int | None  # None = unlimited, 0 = blocked
LimitSource = Literal["member", "role", "server", "config"]


@dataclass(frozen=True, slots=True)
class ResolvedLimit:
    """The limit that applies to a member, its window, and where it came from."""

    limit: Limit
    window: QuotaWindow
    source: LimitSource


def window_bounds(window: QuotaWindow, now: datetime) -> tuple[datetime, datetime]:
    """Start and reset time (UTC) of the window containing `now`: day, ISO week, or month."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        return midnight, midnight + timedelta(days=1)
    if window == "week":
        start = midnight - timedelta(days=midnight.weekday())
        return start, start + timedelta(days=7)
    start = midnight.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def _more_generous(a: Limit, b: Limit) -> Limit:
    if a is None or b is None:
        return None
    return max(a, b)


def resolve_limit(
    *,
    config_limit: Limit,
    config_window: QuotaWindow,
    guild: GuildSettings | None,
    overrides: Iterable[QuotaOverride],
    user_id: int,
    role_ids: Iterable[int],
) -> ResolvedLimit:
    """member override > the most generous of the member's role overrides > server > config."""
    server_window = (guild.window if guild and guild.window else None) or config_window
    roles = set(role_ids)
    role_limit: Limit = 0
    role_window: QuotaWindow | None = None
    has_role_override = False
    for override in overrides:
        if override.target_kind == "member" and override.target_id == user_id:
            return ResolvedLimit(override.limit, override.window or server_window, "member")
        if override.target_kind == "role" and override.target_id in roles:
            generous = _more_generous(role_limit, override.limit)
            if not has_role_override or generous != role_limit:
                role_window = override.window
            role_limit = generous if has_role_override else override.limit
            has_role_override = True
    if has_role_override:
        return ResolvedLimit(role_limit, role_window or server_window, "role")
    if guild is not None and guild.default_limit is not None:
        limit = None if guild.default_limit == "unlimited" else guild.default_limit
        return ResolvedLimit(limit, server_window, "server")
    return ResolvedLimit(config_limit, server_window, "config")


def resolve_server_limit(
    *, config_limit: Limit, config_window: QuotaWindow, guild: GuildSettings | None
) -> ResolvedLimit:
    """The whole server's budget: the server's own (`/quota server`) > `quotas.server_limit`.

    Its window is the one set for it, else the server's member window, else the config's.
    """
    window = config_window
    if guild is not None:
        window = guild.server_window or guild.window or config_window
    if guild is not None and guild.server_limit is not None:
        limit = None if guild.server_limit == "unlimited" else guild.server_limit
        return ResolvedLimit(limit, window, "server")
    return ResolvedLimit(config_limit, window, "config")


def quota_check(
    resolved: ResolvedLimit,
    now: datetime,
    *,
    max_in_flight_per_member: int | None,
    max_in_flight_per_server: int | None,
    server: ResolvedLimit | None = None,
) -> QuotaCheck:
    """What the store enforces atomically when it creates the task."""
    start, resets_at = window_bounds(resolved.window, now)
    budget = None
    if server is not None and server.limit is not None:
        server_start, server_resets_at = window_bounds(server.window, now)
        budget = ServerBudgetCheck(server.limit, server.window, server_start, server_resets_at)
    return QuotaCheck(
        limit=resolved.limit,
        window=resolved.window,
        window_start=start,
        resets_at=resets_at,
        max_in_flight_per_member=max_in_flight_per_member,
        max_in_flight_per_server=max_in_flight_per_server,
        server=budget,
    )

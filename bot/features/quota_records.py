"""What the `/quota` use cases answer with, as plain data: a member's quota, a changed or
listed override, a reset, the server's budget, the server's moderator roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.quota import Limit, LimitSource, ResolvedLimit
from bot.domain.records import OverrideTarget, QuotaOverride, QuotaWindow


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A member a command is about: their id and the roles they hold (role overrides need them)."""

    user_id: int
    role_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitTarget:
    """Who an override is for: one member or one role, by id."""

    kind: OverrideTarget
    id: int


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """A member's quota right now: the limit, where it comes from, use, reset time, in flight."""

    guild_id: int
    user_id: int
    limit: Limit  # None = unlimited, 0 = blocked
    window: QuotaWindow
    source: LimitSource
    source_role_id: int | None  # the role whose override applies, when source == "role"
    used: int  # net credits counted in the current window
    window_start: datetime
    resets_at: datetime
    in_flight: int  # the member's unfinished tasks
    max_in_flight: int | None  # the per-member cap; None = no cap
    video_cost: int | None = None  # credits of a video with the server's defaults
    cost_varies: bool = False  # whether mode and length change what a video costs

    @property
    def remaining(self) -> int | None:
        """Credits left in this window (never negative); None when there is no limit."""
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class OverrideChange:
    """An override a moderator just set, with the window it counts in."""

    override: QuotaOverride
    window: QuotaWindow  # the override's own window, else the server's

    @property
    def target(self) -> LimitTarget:
        """Who the override is for."""
        return LimitTarget(self.override.target_kind, self.override.target_id)


@dataclass(frozen=True, slots=True)
class ResetResult:
    """What `/quota reset` did: credits forgiven, and the member's quota afterwards."""

    forgiven: int
    status: QuotaStatus


@dataclass(frozen=True, slots=True)
class OverrideListing:
    """Every override in a server, and the limit everyone else gets."""

    base: ResolvedLimit  # what a member without overrides gets (source "server" or "config")
    overrides: tuple[QuotaOverride, ...]  # members first, then roles, each by id

    def window_of(self, override: QuotaOverride) -> QuotaWindow:
        """The window an override counts in: its own, else the server's."""
        return override.window or self.base.window


@dataclass(frozen=True, slots=True)
class ServerBudget:
    """The whole server's budget meter: the limit, its use in the window, who spent most."""

    guild_id: int
    limit: Limit  # None = unlimited, 0 = blocked
    window: QuotaWindow
    source: LimitSource  # "server" (set with /quota server) or "config"
    used: int
    window_start: datetime
    resets_at: datetime
    top: tuple[tuple[int, int], ...]  # (member, credits), most first; empty unless moderator

    @property
    def remaining(self) -> int | None:
        """Credits left for the server in this window; None when there is no budget."""
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class ModeratorRoles:
    """Who moderates the bot in a server, besides members with Manage Server."""

    role_ids: tuple[int, ...]  # set in the server with /quota moderators
    config_roles: tuple[str | int, ...]  # `quotas.moderator_roles`, for every server
    changed: bool = True  # whether the command that produced this changed anything

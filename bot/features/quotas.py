"""The `/quota` use cases: see a member's quota, set and clear limits, reset use, list overrides.

Knows nothing about discord.py: the cog hands in plain data (the server's id, the acting member's
`MemberFacts`, targets as ids and a kind) and gets plain results back, or a `KlingBotError` whose
sentence the member reads. Which limit applies is decided by the pure rules of
`bot/domain/quota.py`, exactly as `/video` decides it, so what `/quota show` says is what `/video`
enforces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _
from bot.domain.moderation import (
    MemberFacts,
    is_moderator,
    require_administrator,
    require_moderator,
)
from bot.domain.quota import (
    Limit,
    ResolvedLimit,
    resolve_limit,
    resolve_server_limit,
    window_bounds,
)
from bot.domain.records import GuildSettings, QuotaOverride, QuotaWindow
from bot.engine.task_engine import utc_now
from bot.features.quota_records import (
    LimitTarget,
    MemberRef,
    ModeratorRoles,
    OverrideChange,
    OverrideListing,
    QuotaStatus,
    ResetResult,
    ServerBudget,
)
from bot.settings import OmniSettings, QuotaSettings
from bot.store import TaskStore

UNLIMITED_OPTION = -1  # what `limit:-1` means in `/quota set` and `/quota default`
TOP_SPENDERS = 5  # members the server budget meter names
MAX_LIMIT = 100_000  # credits per window; more is a typo, not a policy


def parse_limit(value: int) -> Limit:
    """The `limit` option → a limit: -1 is unlimited, 0 blocks, n is n credits per window."""
    if value == UNLIMITED_OPTION:
        return None
    _check_limit(value)
    return value


def deciding_role(
    resolved: ResolvedLimit, overrides: Iterable[QuotaOverride], role_ids: Iterable[int]
) -> int | None:
    """Which of the member's role overrides produced `resolved` (None unless it came from one).

    `resolve_limit` keeps the most generous role override; several roles may tie on the limit,
    so the one with the same window wins the tie, as that is the one being enforced.
    """
    if resolved.source != "role":
        return None
    held = set(role_ids)
    tied = [
        o
        for o in overrides
        if o.target_kind == "role" and o.target_id in held and o.limit == resolved.limit
    ]
    for override in tied:
        if override.window == resolved.window:
            return override.target_id
    return tied[0].target_id if tied else None


async def is_server_moderator(
    store: TaskStore, quotas: QuotaSettings, guild_id: int, member: MemberFacts
) -> bool:
    """`is_moderator`, with the server's own moderator roles read from the store."""
    guild = await store.get_guild_settings(guild_id)
    return is_moderator(
        member, config_roles=quotas.moderator_roles, guild_role_ids=guild.moderator_role_ids
    )


async def require_server_moderator(
    store: TaskStore, quotas: QuotaSettings, guild_id: int, member: MemberFacts, *, action: str
) -> None:
    """Raise `NotModerator` (the sentence names `action`) unless the member is a moderator."""
    guild = await store.get_guild_settings(guild_id)
    require_moderator(
        member,
        config_roles=quotas.moderator_roles,
        guild_role_ids=guild.moderator_role_ids,
        action=action,
    )


class ModeratedUseCase:
    """A use case on the store in which a server's moderators may do more: the store, the quota
    settings (they name moderator roles) and the clock."""

    def __init__(
        self, store: TaskStore, quotas: QuotaSettings, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._quotas = quotas
        self._clock = clock


class QuotaService:
    """The `/quota` commands as use cases: moderator rights checked here, not in the cog."""

    def __init__(
        self,
        store: TaskStore,
        quotas: QuotaSettings,
        *,
        omni: OmniSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._quotas = quotas
        self._omni = omni or OmniSettings()
        self._clock = clock

    async def show(
        self, guild_id: int, actor: MemberFacts, member: MemberRef | None = None
    ) -> QuotaStatus:
        """Anyone's own quota; another member's only for moderators."""
        who = member or MemberRef(actor.user_id, actor.role_ids)
        if who.user_id != actor.user_id:
            await self._require_moderator(guild_id, actor, N_("see another member's quota"))
        return await self._status(guild_id, who, self._clock())

    async def set_limit(
        self,
        guild_id: int,
        actor: MemberFacts,
        target: LimitTarget,
        limit: Limit,
        window: QuotaWindow | None = None,
    ) -> OverrideChange:
        """Create or replace a member's or a role's limit (None = unlimited, 0 = blocked)."""
        await self._require_moderator(guild_id, actor, N_("set quotas"))
        _check_limit(limit)
        override = await self._store.set_override(
            guild_id, target.kind, target.id, limit=limit, window=window, now=self._clock()
        )
        guild = await self._store.get_guild_settings(guild_id)
        return OverrideChange(override, override.window or self._server_window(guild))

    async def set_default(
        self, guild_id: int, actor: MemberFacts, limit: Limit, window: QuotaWindow | None = None
    ) -> ResolvedLimit:
        """Set the server's default limit (and window, when given); returns what now applies."""
        await self._require_moderator(guild_id, actor, N_("change the server's default quota"))
        _check_limit(limit)
        current = await self._store.get_guild_settings(guild_id)
        updated = replace(
            current,
            default_limit="unlimited" if limit is None else limit,
            window=window or current.window,
        )
        await self._store.set_guild_settings(updated, now=self._clock())
        return self._base(updated)

    async def server_budget(
        self,
        guild_id: int,
        actor: MemberFacts,
        *,
        limit: int | None = None,
        window: QuotaWindow | None = None,
    ) -> ServerBudget:
        """The server's budget meter; with `limit` (the option: -1 unlimited) or `window`, a
        moderator sets it first. Who spent most is shown to moderators only."""
        is_moderator = await is_server_moderator(self._store, self._quotas, guild_id, actor)
        if limit is not None or window is not None:
            if not is_moderator:
                await self._require_moderator(guild_id, actor, N_("set the server's budget"))
            current = await self._store.get_guild_settings(guild_id)
            updated = replace(current, server_window=window or current.server_window)
            if limit is not None:
                parsed = parse_limit(limit)
                updated = replace(updated, server_limit="unlimited" if parsed is None else parsed)
            await self._store.set_guild_settings(updated, now=self._clock())
        guild = await self._store.get_guild_settings(guild_id)
        config = self._quotas.server_limit
        resolved = resolve_server_limit(
            config_limit=None if config == "unlimited" else config,
            config_window=self._quotas.window,
            guild=guild,
        )
        now = self._clock()
        start, resets_at = window_bounds(resolved.window, now)
        top = (
            await self._store.top_spenders(guild_id, start, limit=TOP_SPENDERS)
            if is_moderator
            else []
        )
        return ServerBudget(
            guild_id=guild_id,
            limit=resolved.limit,
            window=resolved.window,
            source=resolved.source,
            used=await self._store.server_usage(guild_id, start),
            window_start=start,
            resets_at=resets_at,
            top=tuple(top),
        )

    async def moderator_roles(self, guild_id: int, actor: MemberFacts) -> ModeratorRoles:
        """The server's moderator roles and the config's (moderators may look)."""
        await self._require_moderator(guild_id, actor, N_("see the moderator roles"))
        guild = await self._store.get_guild_settings(guild_id)
        return ModeratorRoles(guild.moderator_role_ids, self._quotas.moderator_roles)

    async def add_moderator_role(
        self, guild_id: int, actor: MemberFacts, role_id: int
    ) -> ModeratorRoles:
        """Make a role's members moderators here (administrators)."""
        require_administrator(actor, action=N_("change who moderates the bot"))
        guild = await self._store.get_guild_settings(guild_id)
        changed = role_id not in guild.moderator_role_ids
        if changed:
            roles = (*guild.moderator_role_ids, role_id)
            await self._store.set_guild_settings(
                replace(guild, moderator_role_ids=roles), now=self._clock()
            )
        return await self._roles_after(guild_id, changed)

    async def remove_moderator_role(
        self, guild_id: int, actor: MemberFacts, role_id: int
    ) -> ModeratorRoles:
        """Stop a role's members moderating here (administrators)."""
        require_administrator(actor, action=N_("change who moderates the bot"))
        guild = await self._store.get_guild_settings(guild_id)
        changed = role_id in guild.moderator_role_ids
        if changed:
            roles = tuple(r for r in guild.moderator_role_ids if r != role_id)
            await self._store.set_guild_settings(
                replace(guild, moderator_role_ids=roles), now=self._clock()
            )
        return await self._roles_after(guild_id, changed)

    async def _roles_after(self, guild_id: int, changed: bool) -> ModeratorRoles:
        guild = await self._store.get_guild_settings(guild_id)
        return ModeratorRoles(guild.moderator_role_ids, self._quotas.moderator_roles, changed)

    async def reset(self, guild_id: int, actor: MemberFacts, member: MemberRef) -> ResetResult:
        """Forgive the member's finished use in their current window."""
        await self._require_moderator(guild_id, actor, N_("reset a member's quota"))
        now = self._clock()
        before = await self._status(guild_id, member, now)
        forgiven = await self._store.reset_usage(
            guild_id, member.user_id, since=before.window_start, now=now
        )
        return ResetResult(forgiven, await self._status(guild_id, member, now))

    async def clear(self, guild_id: int, actor: MemberFacts, target: LimitTarget) -> bool:
        """Remove a member's or role's override; False when there was none."""
        await self._require_moderator(guild_id, actor, N_("clear quotas"))
        return await self._store.clear_override(guild_id, target.kind, target.id)

    async def list_overrides(self, guild_id: int, actor: MemberFacts) -> OverrideListing:
        """Every override in the server, with the default everyone else gets."""
        await self._require_moderator(guild_id, actor, N_("list the server's quotas"))
        guild = await self._store.get_guild_settings(guild_id)
        overrides = await self._store.list_overrides(guild_id)
        return OverrideListing(self._base(guild), tuple(overrides))

    # -- plumbing ------------------------------------------------------------------------------

    async def _require_moderator(self, guild_id: int, actor: MemberFacts, action: str) -> None:
        await require_server_moderator(self._store, self._quotas, guild_id, actor, action=action)

    async def _status(self, guild_id: int, who: MemberRef, now: datetime) -> QuotaStatus:
        guild = await self._store.get_guild_settings(guild_id)
        overrides = await self._store.list_overrides(guild_id)
        resolved = resolve_limit(
            config_limit=self._config_limit(),
            config_window=self._quotas.window,
            guild=guild,
            overrides=overrides,
            user_id=who.user_id,
            role_ids=who.role_ids,
        )
        # The same window bounds the store counts from when `/video` charges.
        start, resets_at = window_bounds(resolved.window, now)
        return QuotaStatus(
            guild_id=guild_id,
            user_id=who.user_id,
            limit=resolved.limit,
            window=resolved.window,
            source=resolved.source,
            source_role_id=deciding_role(resolved, overrides, who.role_ids),
            used=await self._store.credits_used(guild_id, who.user_id, start),
            window_start=start,
            resets_at=resets_at,
            in_flight=await self._store.in_flight(guild_id, who.user_id),
            max_in_flight=self._quotas.max_in_flight_per_member,
            video_cost=self._quotas.cost.credits_for(self._omni.mode, self._omni.duration),
            cost_varies=self._quotas.cost.per_second > 0 or self._quotas.cost.pro_multiplier != 1,
        )

    def _base(self, guild: GuildSettings) -> ResolvedLimit:
        """The limit of a member whom no override names."""
        return resolve_limit(
            config_limit=self._config_limit(),
            config_window=self._quotas.window,
            guild=guild,
            overrides=(),
            user_id=0,
            role_ids=(),
        )

    def _config_limit(self) -> Limit:
        limit = self._quotas.default_limit
        return None if limit == "unlimited" else limit

    def _server_window(self, guild: GuildSettings) -> QuotaWindow:
        return guild.window or self._quotas.window


def _check_limit(limit: Limit) -> None:
    # The store refuses negatives with a ValueError (a bug to it); here it is member input.
    if limit is not None and not 0 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            _(
                "`limit` must be a number of credits from 0 to {most:,}, "
                "or {unlimited} for no limit; {limit} is not allowed."
            ).format(most=MAX_LIMIT, unlimited=UNLIMITED_OPTION, limit=limit)
        )

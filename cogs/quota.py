"""`/quota`: see and set video limits; the service decides who may do what, this cog translates.

Every answer is private and pings nobody: it names members and roles, and a moderator setting a
limit must not notify the member or the whole role.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import KlingBot, Services
from bot.features.quota_records import LimitTarget, MemberRef
from bot.features.quotas import MAX_LIMIT, QuotaService, parse_limit
from bot.features.render_quotas import (
    cleared_text,
    default_set_text,
    moderator_roles_text,
    override_list_view,
    override_set_text,
    quota_view,
    reset_text,
    server_budget_view,
)
from cogs.tickets import actor_facts, answer, guild_id_of, think_privately

Window = Literal["day", "week", "month"]
LIMIT_HELP = "Credits per window: 0 blocks, -1 means no limit"


def member_ref(member: discord.Member) -> MemberRef:
    """A member option as the service takes it (roles included: role overrides need them)."""
    return MemberRef(member.id, tuple(role.id for role in member.roles))


def limit_target(target: discord.Member | discord.User | discord.Role) -> LimitTarget:
    """A member-or-role option as the service takes it (a User is a member who left)."""
    if isinstance(target, discord.Role):
        return LimitTarget("role", target.id)
    return LimitTarget("member", target.id)


class QuotaCog(commands.Cog):
    """See and set how much each member may generate."""

    quota = app_commands.Group(
        name="quota", description="See and set video limits", guild_only=True
    )

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self.service = QuotaService(
            services.store, settings.quotas, omni=settings.omni, clock=services.clock.now
        )

    @quota.command(name="show", description="Credits used and left, and when they reset")
    @app_commands.describe(member="Someone else's quota (moderators only)")
    async def show(
        self, interaction: discord.Interaction[KlingBot], member: discord.Member | None = None
    ) -> None:
        """Anyone's own quota; a moderator's view of anyone's."""
        await think_privately(interaction)
        who = None if member is None else member_ref(member)
        status = await self.service.show(guild_id_of(interaction), actor_facts(interaction), who)
        await answer(
            interaction, view=quota_view(status, is_self=status.user_id == interaction.user.id)
        )

    @quota.command(name="set", description="Set a member's or a role's limit (moderators)")
    @app_commands.describe(
        target="The member or role", limit=LIMIT_HELP, window="Per day, week or month"
    )
    async def set_limit(
        self,
        interaction: discord.Interaction[KlingBot],
        target: discord.Member | discord.Role,
        limit: app_commands.Range[int, -1, MAX_LIMIT],
        window: Window | None = None,
    ) -> None:
        """Create or replace an override."""
        await think_privately(interaction)
        change = await self.service.set_limit(
            guild_id_of(interaction),
            actor_facts(interaction),
            limit_target(target),
            parse_limit(limit),
            window,
        )
        await answer(interaction, text=override_set_text(change))

    @quota.command(name="default", description="Set the server's default limit (moderators)")
    @app_commands.describe(limit=LIMIT_HELP, window="Per day, week or month")
    async def default(
        self,
        interaction: discord.Interaction[KlingBot],
        limit: app_commands.Range[int, -1, MAX_LIMIT],
        window: Window | None = None,
    ) -> None:
        """The limit of every member without an override."""
        await think_privately(interaction)
        base = await self.service.set_default(
            guild_id_of(interaction), actor_facts(interaction), parse_limit(limit), window
        )
        await answer(interaction, text=default_set_text(base))

    moderators = app_commands.Group(
        name="moderators", description="Roles whose members moderate the bot", parent=quota
    )

    @moderators.command(name="add", description="Make a role's members moderators (admins)")
    @app_commands.describe(role="The role")
    async def add_moderators(
        self, interaction: discord.Interaction[KlingBot], role: discord.Role
    ) -> None:
        """Administrators name a moderator role."""
        await think_privately(interaction)
        roles = await self.service.add_moderator_role(
            guild_id_of(interaction), actor_facts(interaction), role.id
        )
        await answer(interaction, text=moderator_roles_text(roles, role_id=role.id))

    @moderators.command(name="remove", description="Stop a role's members moderating (admins)")
    @app_commands.describe(role="The role")
    async def remove_moderators(
        self, interaction: discord.Interaction[KlingBot], role: discord.Role
    ) -> None:
        """Administrators take a moderator role away."""
        await think_privately(interaction)
        roles = await self.service.remove_moderator_role(
            guild_id_of(interaction), actor_facts(interaction), role.id
        )
        await answer(interaction, text=moderator_roles_text(roles, role_id=role.id))

    @moderators.command(name="list", description="Who moderates the bot here (moderators)")
    async def list_moderators(self, interaction: discord.Interaction[KlingBot]) -> None:
        """The server's moderator roles and the config's."""
        await think_privately(interaction)
        roles = await self.service.moderator_roles(
            guild_id_of(interaction), actor_facts(interaction)
        )
        await answer(interaction, text=moderator_roles_text(roles))

    @quota.command(name="server", description="The whole server's budget (moderators set it)")
    @app_commands.describe(
        limit="Credits per window for the whole server: 0 blocks, -1 means no budget",
        window="Per day, week or month",
    )
    async def server(
        self,
        interaction: discord.Interaction[KlingBot],
        limit: app_commands.Range[int, -1, MAX_LIMIT] | None = None,
        window: Window | None = None,
    ) -> None:
        """The meter; with a limit or a window, a moderator sets the budget first."""
        await think_privately(interaction)
        budget = await self.service.server_budget(
            guild_id_of(interaction), actor_facts(interaction), limit=limit, window=window
        )
        await answer(interaction, view=server_budget_view(budget))

    @quota.command(name="reset", description="Forget a member's use this window (moderators)")
    @app_commands.describe(member="Whose use to forget")
    async def reset(
        self, interaction: discord.Interaction[KlingBot], member: discord.Member
    ) -> None:
        """Let a member start their window afresh."""
        await think_privately(interaction)
        result = await self.service.reset(
            guild_id_of(interaction), actor_facts(interaction), member_ref(member)
        )
        await answer(interaction, text=reset_text(result))

    @quota.command(name="clear", description="Remove a member's or a role's limit (moderators)")
    @app_commands.describe(target="The member or role whose override to remove")
    async def clear(
        self, interaction: discord.Interaction[KlingBot], target: discord.Member | discord.Role
    ) -> None:
        """Remove an override; the next rule down applies again."""
        await think_privately(interaction)
        guild_id, which = guild_id_of(interaction), limit_target(target)
        removed = await self.service.clear(guild_id, actor_facts(interaction), which)
        await answer(interaction, text=cleared_text(which, guild_id, removed=removed))

    @quota.command(name="list", description="Every limit set in this server (moderators)")
    async def list_overrides(self, interaction: discord.Interaction[KlingBot]) -> None:
        """The server's default and every override."""
        await think_privately(interaction)
        guild_id = guild_id_of(interaction)
        listing = await self.service.list_overrides(guild_id, actor_facts(interaction))
        await answer(interaction, view=override_list_view(listing, guild_id))


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(QuotaCog(bot.services))

"""`/cancel task:`: cancel one of your unfinished videos (moderators: anyone's).

The service decides who may and what a cancellation does; this cog translates, and offers the
member's unfinished tasks as they type.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import KlingBot, Services
from bot.cancel_service import CancelService
from bot.render_lists import cancel_choice_name, cancel_text
from cogs.quota import actor_facts, answer, guild_id_of, think_privately
from cogs.tasks import MAX_TASK_ID


class CancelCog(commands.Cog):
    """Cancel videos."""

    def __init__(self, services: Services) -> None:
        self.service = CancelService(services.engine, services.settings.quotas)

    @app_commands.command(name="cancel", description="Cancel one of your unfinished videos")
    @app_commands.guild_only()
    @app_commands.describe(task="The task's number (pick one of your unfinished videos)")
    async def cancel(
        self,
        interaction: discord.Interaction[KlingBot],
        task: app_commands.Range[int, 1, MAX_TASK_ID],
    ) -> None:
        """Cancel a task: the requester's own, or anyone's for a moderator."""
        await think_privately(interaction)
        cancelled = await self.service.cancel(
            guild_id_of(interaction), actor_facts(interaction), task
        )
        await answer(interaction, text=cancel_text(cancelled))

    @cancel.autocomplete("task")
    async def _tasks_to_cancel(
        self, interaction: discord.Interaction[KlingBot], current: str
    ) -> list[app_commands.Choice[int]]:
        """The member's unfinished tasks, newest first, matching what they typed."""
        if interaction.guild_id is None:
            return []
        tasks = await self.service.cancellable(
            interaction.guild_id, interaction.user.id, str(current)
        )
        return [app_commands.Choice(name=cancel_choice_name(t), value=t.id) for t in tasks]


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(CancelCog(bot.services))

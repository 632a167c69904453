"""`/tasks` and `/task`: a member's recent videos and one task in full, privately.

Who may see what is decided by `bot/task_queries.py`; this cog turns options into plain data and
the results into embeds.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import KlingBot, Services
from bot.engine import utc_now
from bot.lifecycle import TaskState
from bot.render_lists import task_detail_view, task_list_view
from bot.task_queries import TaskQueries
from cogs.quota import actor_facts, answer, guild_id_of, think_privately

# Discord takes integer options up to 2**53 - 1; task numbers never get near it.
MAX_TASK_ID = 2**53 - 1
STATUS_CHOICES = [
    app_commands.Choice(name=state.value.replace("_", " "), value=state.value)
    for state in TaskState
]


class TasksCog(commands.Cog):
    """Look back at tasks."""

    def __init__(self, services: Services) -> None:
        self.queries = TaskQueries(services.store, services.settings.quotas)

    @app_commands.command(name="tasks", description="Your latest videos, newest first")
    @app_commands.guild_only()
    @app_commands.describe(
        member="Someone else's tasks (moderators only)", status="Only tasks in this state"
    )
    @app_commands.choices(status=STATUS_CHOICES)
    async def tasks(
        self,
        interaction: discord.Interaction[KlingBot],
        member: discord.User | None = None,
        status: app_commands.Choice[str] | None = None,
    ) -> None:
        """The viewer's own tasks, or a member's for a moderator."""
        await think_privately(interaction)
        page = await self.queries.recent(
            guild_id_of(interaction),
            actor_facts(interaction),
            member_id=None if member is None else member.id,
            state=None if status is None else TaskState(status.value),
        )
        await answer(interaction, view=task_list_view(page))

    @app_commands.command(name="task", description="One task in full: status, timings, history")
    @app_commands.guild_only()
    @app_commands.rename(task_id="id")
    @app_commands.describe(task_id="The task's number (shown under its status message)")
    async def task(
        self,
        interaction: discord.Interaction[KlingBot],
        task_id: app_commands.Range[int, 1, MAX_TASK_ID],
    ) -> None:
        """One task of this server: the viewer's own, or anyone's for a moderator."""
        await think_privately(interaction)
        detail = await self.queries.detail(
            guild_id_of(interaction), actor_facts(interaction), task_id
        )
        await answer(interaction, view=task_detail_view(detail, now=utc_now()))


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(TasksCog(bot.services))

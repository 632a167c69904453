"""`/cancel task:` and the status message's 🛑 Cancel button: cancel one of your unfinished videos
(moderators: anyone's).

The service decides who may and what a cancellation does; this cog translates, and offers the
member's unfinished tasks as they type.
"""

from __future__ import annotations

import re

import discord
from discord import app_commands

from bot.discord.answers import explain_failure
from bot.discord.buttons import CANCEL_ID_TEMPLATE
from bot.discord.client import KlingBot
from bot.discord.translate import cancel_button
from bot.features.cancel import CancelService
from bot.features.render_cancel import cancel_choice_name, cancel_text
from cogs.tickets import (
    MAX_TASK_ID,
    PersistentButtonsCog,
    SpeaksToPresser,
    actor_facts,
    answer,
    guild_id_of,
    think_privately,
)


class CancelButton(
    SpeaksToPresser,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=CANCEL_ID_TEMPLATE,
):
    """🛑 Cancel on a status message: the task is in the custom id (works after a restart)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(cancel_button(task_id))
        self.task_id = task_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction[KlingBot],
        item: discord.ui.Button[discord.ui.View],
        match: re.Match[str],
    ) -> CancelButton:
        """The button a press names."""
        return cls(int(match["task_id"]))

    async def callback(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Cancel for the requester or a moderator; anyone else is told so, privately."""
        cog = interaction.client.get_cog(CancelCog.__cog_name__)
        assert isinstance(cog, CancelCog)
        try:
            await think_privately(interaction)
            cancelled = await cog.service.cancel(
                guild_id_of(interaction), actor_facts(interaction), self.task_id
            )
            await answer(interaction, text=cancel_text(cancelled))
        except Exception as error:
            await explain_failure(interaction, error, "the Cancel button")


class CancelCog(PersistentButtonsCog):
    """Cancel videos."""

    buttons = (CancelButton,)

    def __init__(self, bot: KlingBot) -> None:
        super().__init__(bot)
        self.service = CancelService(bot.services.engine, bot.services.settings.quotas)

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
    await bot.add_cog(CancelCog(bot))

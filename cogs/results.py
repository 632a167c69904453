"""The buttons under a result: 🔁 Rerun, 🎲 Variation (a form with the prompt), 🗑 Delete.

They are dynamic items registered when the cog loads (in `setup_hook`): the task is read from
the button's custom id, so a result posted days ago, before any number of restarts, still works.
Who may do what is decided by the services (`bot.features.reruns`, `bot.features.results`);
this translates.
"""

from __future__ import annotations

import contextlib

import discord

from bot.discord.buttons import RESULT_ID_TEMPLATE
from bot.discord.client import KlingBot, Services
from bot.discord.translate import channel_rights
from bot.domain.errors import NotYours
from bot.domain.i18n import _
from bot.domain.records import TaskRecord
from bot.features.render import VARIATION_EMOJI
from bot.features.requests import variation_text
from bot.features.reruns import NOT_YOURS, ButtonPress
from cogs.tickets import (
    ExplainedModal,
    PersistentButtonsCog,
    ResultActionButton,
    actor_facts,
    answer_with_ticket,
    requester_of,
    require_video_rights,
)


def _bot(interaction: discord.Interaction[discord.Client]) -> KlingBot:
    bot = interaction.client
    assert isinstance(bot, KlingBot)
    return bot


class ResultButton(ResultActionButton, template=RESULT_ID_TEMPLATE):
    """A result's button, rebuilt from its custom id whenever it is pressed."""

    async def act(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        """Rerun, vary or delete."""
        if self.action == "rerun":
            await self._rerun(interaction, services)
        elif self.action == "vary":
            await self._vary(interaction, services)
        else:
            await self._delete(interaction, services)

    def _press(self, interaction: discord.Interaction[KlingBot]) -> ButtonPress:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        assert interaction.message is not None  # a button is always on a message
        return ButtonPress(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            message_id=interaction.message.id,
            task_id=self.task_id,
            member=actor_facts(interaction),
            channel_rights=channel_rights(interaction.app_permissions, interaction.channel),
        )

    async def _rerun(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        ticket = await services.reruns.on_button(self._press(interaction))
        await answer_with_ticket(interaction, services.generation, ticket, ())

    async def _vary(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        press = self._press(interaction)
        task = await services.reruns.result_task(press.guild_id, press.task_id)
        if not await services.reruns.allows(task, press.member):
            raise NotYours(_(NOT_YOURS))
        require_video_rights(interaction)  # before the form: its answer would be charged
        await interaction.response.send_modal(VariationModal(services, task))

    async def _delete(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        press = self._press(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        task = await services.reruns.result_task(press.guild_id, press.task_id)
        task = await services.results.remove(task, press.member)  # recorded first
        if task.channel_id is not None and task.delivery_message_id is not None:
            channel = _bot(interaction).get_partial_messageable(
                task.channel_id, guild_id=task.guild_id
            )
            # Gone already (someone with Manage Messages): the record still says who asked.
            with contextlib.suppress(discord.NotFound):
                await channel.get_partial_message(task.delivery_message_id).delete()
        services.status.refresh(task)
        await interaction.followup.send(
            _("Removed the video of task #{id}. `/task id:{id}` still shows the task.").format(
                id=task.id
            ),
            ephemeral=True,
        )


class VariationModal(ExplainedModal):
    """The result's prompt (or shots), to change one thing; submitted, it is a new task."""

    what = "the Variation form"

    def __init__(self, services: Services, parent: TaskRecord) -> None:
        title = _("Variation of task #{id}").format(id=parent.id)
        super().__init__(title=f"{VARIATION_EMOJI} {title}"[:45])
        self.services = services
        self.parent = parent
        is_shots = parent.request.shot_type == "customize" and bool(parent.request.shots)
        self.text: discord.ui.TextInput[VariationModal] = discord.ui.TextInput(
            label=_("Shots, one a line: seconds: what happens") if is_shots else _("Prompt"),
            style=discord.TextStyle.paragraph,
            default=variation_text(parent.request),
            min_length=1,
            max_length=4000 if is_shots else 2500,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Queue the variation and answer with its status message."""
        generation = self.services.generation
        ticket = await generation.request_variation(
            requester_of(interaction), self.parent, self.text.value
        )
        await answer_with_ticket(interaction, generation, ticket, ())


class ResultsCog(PersistentButtonsCog):
    """Registers the result buttons, so that presses on any result are handled."""

    buttons = (ResultButton,)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(ResultsCog(bot))

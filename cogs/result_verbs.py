"""More buttons under a result: ▶ Extend, ✏️ Extend… (a form for the next shot) and GIF.

Dynamic items registered when the cog loads, like the other result buttons (`cogs.results`):
the task is read from the button's custom id, so a press on a result posted before any number of
restarts still works. Who may do what and whether it can be done is decided by the services
(`bot.features.extensions`, `bot.features.result_gifs`); this translates and posts.
"""

from __future__ import annotations

import asyncio

import discord

from bot.discord.buttons import VERB_ID_TEMPLATE
from bot.discord.client import KlingBot, Services
from bot.discord.translate import channel_rights
from bot.domain.channel_rights import ATTACH_FILES
from bot.domain.delivery import result_filename
from bot.domain.errors import MissingPermissions
from bot.domain.i18n import _
from bot.features.extend import EXTEND_TEXT_MAX_CHARS
from bot.features.extensions import Extendable, ExtendPress
from bot.features.result_gifs import GifPress
from cogs.tickets import (
    ExplainedModal,
    PersistentButtonsCog,
    ResultActionButton,
    actor_facts,
    answer_with_ticket,
    requester_of,
    require_video_rights,
)


def no_gif_here() -> MissingPermissions:
    """The refusal of a GIF where the bot can't post one."""
    return MissingPermissions(
        _(
            "The bot can't post a GIF here: it needs **{permission}** (and to send messages) in "
            "this channel. Ask a server admin for it."
        ).format(permission=ATTACH_FILES)
    )


def _result_attachment(
    interaction: discord.Interaction[KlingBot], task_id: int
) -> discord.Attachment | None:
    """The result's MP4 on the pressed message (absent when it was posted as a link)."""
    message = interaction.message
    name = result_filename(task_id)
    if message is None:
        return None
    return next((a for a in message.attachments if a.filename == name), None)


class VerbButton(ResultActionButton, template=VERB_ID_TEMPLATE):
    """▶ Extend, ✏️ Extend… or GIF under a result, rebuilt from its custom id when pressed."""

    async def act(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        """Extend, open the extend form, or make a GIF."""
        if self.action == "extend":
            await self._extend(interaction, services)
        elif self.action == "extend_form":
            await self._open_form(interaction, services)
        else:
            await self._gif(interaction, services)

    def _press(self, interaction: discord.Interaction[KlingBot]) -> ExtendPress:
        assert interaction.guild_id is not None and interaction.message is not None
        return ExtendPress(
            guild_id=interaction.guild_id,
            message_id=interaction.message.id,
            task_id=self.task_id,
            member=actor_facts(interaction),
            is_result_attached=_result_attachment(interaction, self.task_id) is not None,
        )

    async def _extend(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        require_video_rights(interaction)  # before the charge: the result could not be posted
        press = self._press(interaction)
        ticket = await services.extensions.extend(requester_of(interaction), press)
        await answer_with_ticket(interaction, services.generation, ticket, ())

    async def _open_form(
        self, interaction: discord.Interaction[KlingBot], services: Services
    ) -> None:
        press = self._press(interaction)
        found = await services.extensions.check(press)  # refused before the form, not after
        require_video_rights(interaction)
        await interaction.response.send_modal(ExtendModal(services, press, found))

    async def _gif(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        rights = channel_rights(interaction.app_permissions, interaction.channel)
        if not rights.can_post or not rights.attach_files:
            raise no_gif_here()
        attachment = _result_attachment(interaction, self.task_id)
        press = GifPress(
            guild_id=interaction.guild_id,
            task_id=self.task_id,
            member=actor_facts(interaction),
            upload_limit_bytes=interaction.filesize_limit,
            attachment_url=None if attachment is None else attachment.url,
            attachment_bytes=None if attachment is None else attachment.size,
        )
        task = await services.gifs.check(press)  # a refusal at once, before "thinking…"
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.client.get_partial_messageable(
            interaction.channel_id, guild_id=interaction.guild_id
        )
        reference = None
        if rights.read_message_history and interaction.message is not None:
            reference = interaction.message.to_reference(fail_if_not_exists=False)
        async with services.gifs.made(press) as gif:
            file = await asyncio.to_thread(
                discord.File,
                gif.path,
                filename=gif.path.name,
                description=_("A GIF of task #{id}'s video").format(id=task.id),
            )
            try:
                posted = await channel.send(
                    "🎞️ "
                    + _("A GIF of #{id}'s video, for {member}.").format(
                        id=task.id, member=f"<@{interaction.user.id}>"
                    ),
                    file=file,
                    reference=reference,  # type: ignore[arg-type]  # None is accepted
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.Forbidden:
                raise no_gif_here() from None
            finally:
                file.close()
        await interaction.followup.send(
            _("Posted the GIF ({width}×{height}, {fps} fps): {link}").format(
                width=gif.width, height=gif.height, fps=gif.fps, link=posted.jump_url
            ),
            ephemeral=True,
        )


class ExtendModal(ExplainedModal):
    """What happens in the next shot (starting from what the result was asked for)."""

    what = "the Extend form"

    def __init__(self, services: Services, press: ExtendPress, found: Extendable) -> None:
        super().__init__(title=("✏️ " + _("Extend task #{id}").format(id=found.task.id))[:45])
        self.services = services
        self.press = press
        self.text: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(
            label=_("What happens in the next shot?"),
            style=discord.TextStyle.paragraph,
            default=found.text[:EXTEND_TEXT_MAX_CHARS],
            min_length=1,
            max_length=EXTEND_TEXT_MAX_CHARS,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Queue the extension and answer with its status message."""
        require_video_rights(interaction)
        extensions, generation = self.services.extensions, self.services.generation
        ticket = await extensions.extend(requester_of(interaction), self.press, self.text.value)
        await answer_with_ticket(interaction, generation, ticket, ())


class ResultVerbsCog(PersistentButtonsCog):
    """Registers ▶ Extend, ✏️ Extend… and GIF, so that presses on any result are handled."""

    buttons = (VerbButton,)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(ResultVerbsCog(bot))

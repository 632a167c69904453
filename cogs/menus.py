"""Message commands (right-click a message → Apps): Edit with Kling, Animate with Kling.

- **Edit with Kling** on a message with an MP4/MOV: a modal asks for the prompt, edit or
  reference, and whether to keep the sound; then it is exactly `/video video:`. Made from one of
  the bot's own results, the new task remembers it (`/task` shows "Edited from #N").
- **Animate with Kling** on a message with a PNG/JPEG: at once, with the server's defaults, the
  picture as the first frame (Midjourney's "Animate: auto"). **Animate with Kling…** asks for the
  prompt and whether to loop first ("manual"). Either way it is exactly `/video first_frame:`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import KlingBot, Services
from bot.domain.i18n import N_, _
from bot.features.clips import CLIP_TYPES
from bot.features.media import IMAGE_TYPES, VIDEO_SLOT, AttachmentInfo
from bot.features.requests import VideoOptions
from cogs.tickets import (
    ExplainedModal,
    answer_with_ticket,
    info_of,
    requester_of,
    require_video_rights,
)

EDIT_MENU = N_("Edit with Kling")
ANIMATE_MENU = N_("Animate with Kling")
ANIMATE_MANUAL_MENU = N_("Animate with Kling…")
AUTO_PROMPT = "Bring this picture to life with natural, gentle motion; the camera moves slowly."
NO_CLIP = N_(
    "That message has no MP4 or MOV clip to edit. Use **Edit with Kling** on a message with a "
    "video attachment, or `/video video:` with a clip of your own."
)
NO_IMAGE = N_(
    "That message has no PNG or JPEG picture to animate. Use **Animate with Kling** on a message "
    "with an image attachment, or `/video first_frame:` with a picture of your own."
)
_YES = ("yes", "y", "true", "on")


def is_yes(answer: str) -> bool:
    """A form's yes, in English or in the member's own language."""
    said = answer.strip().lower()
    return said in _YES or said == _("yes").lower()


def first_attachment(
    attachments: list[discord.Attachment], extensions: frozenset[str] | set[str]
) -> discord.Attachment | None:
    """The message's first attachment with one of these extensions."""
    for attachment in attachments:
        if PurePosixPath(attachment.filename).suffix.lower().lstrip(".") in extensions:
            return attachment
    return None


class _VideoModal(ExplainedModal):
    """A modal whose submission is a `/video` with the message's attachment."""

    def __init__(
        self, services: Services, attachment: AttachmentInfo, edited_from: int | None, what: str
    ) -> None:
        super().__init__()
        self.services = services
        self.attachment = attachment
        self.edited_from = edited_from
        self.what = what

    def options(self, interaction: discord.Interaction[KlingBot]) -> VideoOptions:
        """The `/video` options the modal's fields stand for."""
        raise NotImplementedError

    async def on_submit(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Queue the video and answer with its status message."""
        options = self.options(interaction)
        generation = self.services.generation
        ticket = await generation.request_video(
            requester_of(interaction), options, edited_from=self.edited_from
        )
        await answer_with_ticket(interaction, generation, ticket, options.attachments)


class EditModal(_VideoModal, title=N_("Edit with Kling")):
    """The prompt, edit or reference, keep the sound or not."""

    prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label=N_("What should change?"),
        style=discord.TextStyle.paragraph,
        placeholder=N_("make it snow in <<<video_1>>>"),
        min_length=1,
        max_length=2500,
    )
    use: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label=N_("edit (change this clip) or reference (follow it)"),
        default="edit",
        min_length=4,
        max_length=9,
    )
    keep_sound: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label=N_("Keep the clip's sound? yes or no"),
        default=N_("no"),
        min_length=1,
        max_length=4,
    )

    def options(self, interaction: discord.Interaction[KlingBot]) -> VideoOptions:
        """`/video video:` with the modal's prompt, use and sound."""
        return VideoOptions(
            prompt=self.prompt.value,
            attachments=(self.attachment,),
            video_use=self.use.value.strip().lower(),
            keep_sound=is_yes(self.keep_sound.value),
            upload_limit_bytes=interaction.filesize_limit,
        )


class AnimateModal(_VideoModal, title=N_("Animate with Kling")):
    """The prompt, and whether the video loops back to the picture."""

    prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
        label=N_("How should it move?"),
        style=discord.TextStyle.paragraph,
        default=AUTO_PROMPT,
        min_length=1,
        max_length=2500,
    )
    loop: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
        label=N_("Loop back to the picture at the end? yes or no"),
        default=N_("no"),
        min_length=1,
        max_length=4,
    )

    def options(self, interaction: discord.Interaction[KlingBot]) -> VideoOptions:
        """`/video first_frame:` with the modal's prompt and loop."""
        return VideoOptions(
            prompt=self.prompt.value,
            attachments=(self.attachment,),
            loop=is_yes(self.loop.value),
        )


class MenusCog(commands.Cog):
    """The message commands; menus can't live in a cog's body, so they are added to the tree."""

    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name=EDIT_MENU, callback=self.edit),
            app_commands.ContextMenu(name=ANIMATE_MENU, callback=self.animate),
            app_commands.ContextMenu(name=ANIMATE_MANUAL_MENU, callback=self.animate_manually),
        ]
        for menu in self.menus:
            menu.guild_only = True

    async def cog_load(self) -> None:
        """Register the menus with the tree."""
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        """Take the menus away with the cog."""
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    async def _parent(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> int | None:
        """The task whose result this message is, when it is one of the bot's results."""
        if self.bot.user is None or message.author.id != self.bot.user.id:
            return None
        assert interaction.guild_id is not None
        return await self.bot.services.generation.result_task_id(interaction.guild_id, message.id)

    async def edit(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> None:
        """Open the edit modal for the message's clip, or say why there is nothing to edit."""
        clip = first_attachment(message.attachments, set(CLIP_TYPES))
        if clip is None or interaction.guild_id is None:
            await interaction.response.send_message(_(NO_CLIP), ephemeral=True)
            return
        require_video_rights(interaction, with_clip=True)
        parent = await self._parent(interaction, message)
        modal = EditModal(self.bot.services, info_of(VIDEO_SLOT, clip), parent, EDIT_MENU)
        await interaction.response.send_modal(modal)

    async def animate(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> None:
        """Animate the message's picture at once, with the server's defaults."""
        picture = await self._picture(interaction, message)
        if picture is None:
            return
        options = VideoOptions(prompt=AUTO_PROMPT, attachments=(picture,))
        generation = self.bot.services.generation
        ticket = await generation.request_video(requester_of(interaction), options)
        await answer_with_ticket(interaction, generation, ticket, options.attachments)

    async def animate_manually(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> None:
        """Open the animate modal for the message's picture."""
        picture = await self._picture(interaction, message)
        if picture is not None:
            modal = AnimateModal(self.bot.services, picture, None, ANIMATE_MANUAL_MENU)
            await interaction.response.send_modal(modal)

    async def _picture(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> AttachmentInfo | None:
        """The message's picture as a first frame, or None once the member was told why not."""
        image = first_attachment(message.attachments, set(IMAGE_TYPES))
        if image is None or interaction.guild_id is None:
            await interaction.response.send_message(_(NO_IMAGE), ephemeral=True)
            return None
        require_video_rights(interaction)
        return info_of("first_frame", image)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(MenusCog(bot))

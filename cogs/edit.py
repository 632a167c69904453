""" "Edit with Kling": a message command on any message with a clip, then `/video video:`.

Right-click a message → Apps → Edit with Kling. A modal asks for the prompt and whether to edit
the clip or follow it; then it is exactly `/video video:` (same checks, charge and delivery). A
task made from one of the bot's own results remembers it (`/task` shows "edited from #N").
"""

from __future__ import annotations

from pathlib import PurePosixPath

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import KlingBot, Services, explain_failure
from bot.clips import CLIP_TYPES
from bot.generation import VideoOptions
from bot.media import VIDEO_SLOT, AttachmentInfo
from cogs.tickets import answer_with_ticket, requester_of

MENU_NAME = "Edit with Kling"
NO_CLIP = (
    "That message has no MP4 or MOV clip to edit. Use **Edit with Kling** on a message with a "
    "video attachment, or `/video video:` with a clip of your own."
)


def first_clip(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    """The message's first MP4 or MOV attachment."""
    for attachment in attachments:
        if PurePosixPath(attachment.filename).suffix.lower().lstrip(".") in CLIP_TYPES:
            return attachment
    return None


class EditModal(discord.ui.Modal, title="Edit with Kling"):
    """The prompt, and edit or reference; then the same path as `/video video:`."""

    prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="What should change?",
        style=discord.TextStyle.paragraph,
        placeholder="make it snow in <<<video_1>>>",
        min_length=1,
        max_length=2500,
    )
    use: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="edit (change this clip) or reference (follow it)",
        default="edit",
        min_length=4,
        max_length=9,
    )
    keep_sound: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="Keep the clip's sound? yes or no",
        default="no",
        min_length=2,
        max_length=3,
    )

    def __init__(self, services: Services, clip: AttachmentInfo, edited_from: int | None) -> None:
        super().__init__()
        self.services = services
        self.clip = clip
        self.edited_from = edited_from

    async def on_submit(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Queue the edit and answer with its status message."""
        keep = self.keep_sound.value.strip().lower()
        options = VideoOptions(
            self.prompt.value,
            attachments=(self.clip,),
            video_use=self.use.value.strip().lower(),
            keep_sound=keep in ("yes", "y", "true", "on"),
            upload_limit_bytes=interaction.filesize_limit,
        )
        generation = self.services.generation
        ticket = await generation.request_video(
            requester_of(interaction), options, edited_from=self.edited_from
        )
        await answer_with_ticket(interaction, generation, ticket, options.attachments)

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[KlingBot], error: Exception
    ) -> None:
        """The same private sentences as every command."""
        await explain_failure(interaction, error, MENU_NAME)


class EditCog(commands.Cog):
    """The "Edit with Kling" message command."""

    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.edit_with_kling)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        """Menus can't live in a cog's body: register it with the tree."""
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        """Take the menu away with the cog."""
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def edit_with_kling(
        self, interaction: discord.Interaction[KlingBot], message: discord.Message
    ) -> None:
        """Open the modal for the message's clip, or say why there is nothing to edit."""
        clip = first_clip(message.attachments)
        if clip is None or interaction.guild_id is None:
            await interaction.response.send_message(NO_CLIP, ephemeral=True)
            return
        edited_from = None
        if self.bot.user is not None and message.author.id == self.bot.user.id:
            edited_from = await self.bot.services.generation.result_task_id(
                interaction.guild_id, message.id
            )
        info = AttachmentInfo(
            slot=VIDEO_SLOT,
            filename=clip.filename,
            url=clip.url,
            size_bytes=clip.size,
            content_type=clip.content_type,
        )
        await interaction.response.send_modal(EditModal(self.bot.services, info, edited_from))


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(EditCog(bot))

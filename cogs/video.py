"""`/video`: turn the interaction into plain options, call the service, show the ticket."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import KlingBot, Services
from bot.engine import utc_now
from bot.generation import Requester, VideoOptions
from bot.render import status_view
from bot.status_messages import status_embed


def requester_of(interaction: discord.Interaction[KlingBot]) -> Requester:
    """Who is asking, and where, as plain data."""
    assert interaction.guild_id is not None and interaction.channel_id is not None
    user = interaction.user
    role_ids = tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
    return Requester(interaction.guild_id, interaction.channel_id, user.id, role_ids)


class VideoCog(commands.Cog):
    """Make videos."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="video", description="Make a short video with Kling Omni")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What the video shows (up to 2500 characters)",
        mode="std: 720p, faster and cheaper · pro: 1080p",
        aspect_ratio="Shape of the video",
        duration="Length in seconds (kling-video-o1: 5 or 10 for text; kling-v3-omni: 3 to 15)",
        model="Which Kling Omni model",
        sound="Generate sound too",
        elements="Kling element IDs, separated by commas",
        watermark="Also make a watermarked copy",
    )
    async def video(
        self,
        interaction: discord.Interaction[KlingBot],
        prompt: app_commands.Range[str, 1, 2500],
        mode: Literal["std", "pro"] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None,
        duration: app_commands.Range[int, 3, 15] | None = None,
        model: Literal["kling-video-o1", "kling-v3-omni"] | None = None,
        sound: bool | None = None,
        elements: app_commands.Range[str, 1, 200] | None = None,
        watermark: bool | None = None,
    ) -> None:
        """Validate and queue a video, then answer with its status message."""
        options = VideoOptions(
            prompt, mode, aspect_ratio, duration, model, sound, elements, watermark
        )
        ticket = await self.services.generation.request_video(requester_of(interaction), options)
        view = status_view(ticket.task, position=None, now=utc_now())
        try:
            response = await interaction.response.send_message(
                embed=status_embed(view), allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException:
            # The member saw "the application did not respond": don't charge for a task they
            # never heard of. (It is still held, so it can't have left the queue.)
            await self.services.generation.withdraw(ticket.task.id)
            raise
        finally:
            self.services.generation.release(ticket)
        if response.message_id is not None:
            await self.services.generation.attach_status_message(
                ticket.task.id, response.message_id
            )


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(VideoCog(bot.services))

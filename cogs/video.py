"""`/video`: turn the interaction into plain options, call the service, show the ticket."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import KlingBot, Services
from bot.features.requests import VideoOptions
from cogs.tickets import (
    SHARED_OPTION_WORDS,
    AspectRatio,
    ElementNames,
    Mode,
    Prompt,
    Seconds,
    answer_with_ticket,
    attachment_infos,
    requester_of,
    require_video_rights,
    suggest_elements,
)


class VideoCog(commands.Cog):
    """Make videos."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="video", description="Make a short video with Kling Omni")
    @app_commands.guild_only()
    @app_commands.describe(
        **SHARED_OPTION_WORDS,
        prompt="What the video shows (up to 2500 characters); <<<image_1>>> refers to image_1",
        aspect_ratio="Shape of the video (not with a first frame: the image sets it)",
        duration="Length in seconds (kling-video-o1: 5 or 10 for text; kling-v3-omni: 3 to 15)",
        model="Which Kling Omni model",
        first_frame="The image the video starts from (PNG/JPEG, ≥300 px)",
        end_frame="The image the video ends on (needs a first frame)",
        image_1="A reference image (subject, scene or style): <<<image_1>>> in the prompt",
        image_4="A fourth reference image: <<<image_4>>>",
        video="A clip to edit or follow (MP4/MOV, 3-10 s, 720-2160 px, 24-60 fps): <<<video_1>>>",
        video_use="edit: change the clip itself (default) · reference: follow its style or motion",
        keep_sound="Keep the clip's own sound (default: off)",
        loop="End on the first frame again, so the video loops (needs first_frame)",
        watermark="Also make a watermarked copy",
    )
    async def video(
        self,
        interaction: discord.Interaction[KlingBot],
        prompt: Prompt,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        duration: Seconds | None = None,
        model: Literal["kling-video-o1", "kling-v3-omni"] | None = None,
        sound: bool | None = None,
        first_frame: discord.Attachment | None = None,
        end_frame: discord.Attachment | None = None,
        image_1: discord.Attachment | None = None,
        image_2: discord.Attachment | None = None,
        image_3: discord.Attachment | None = None,
        image_4: discord.Attachment | None = None,
        elements: ElementNames | None = None,
        video: discord.Attachment | None = None,
        video_use: Literal["edit", "reference"] | None = None,
        keep_sound: bool | None = None,
        loop: bool | None = None,
        watermark: bool | None = None,
    ) -> None:
        """Validate and queue a video, answer with its status message, then keep its inputs."""
        require_video_rights(interaction, with_clip=video is not None)
        attachments = attachment_infos(
            image_1=image_1,
            image_2=image_2,
            image_3=image_3,
            image_4=image_4,
            first_frame=first_frame,
            end_frame=end_frame,
            video=video,
        )
        options = VideoOptions(
            prompt=prompt,
            mode=mode,
            aspect_ratio=aspect_ratio,
            duration=duration,
            model=model,
            sound=sound,
            elements=elements,
            watermark=watermark,
            attachments=attachments,
            video_use=video_use,
            keep_sound=keep_sound,
            upload_limit_bytes=interaction.filesize_limit,
            loop=loop,
        )
        generation = self.services.generation
        ticket = await generation.request_video(requester_of(interaction), options)
        await answer_with_ticket(interaction, generation, ticket, attachments)

    @video.autocomplete("elements")
    async def _elements(
        self, interaction: discord.Interaction[KlingBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await suggest_elements(self.services.elements, interaction, current)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(VideoCog(bot.services))

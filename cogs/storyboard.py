"""`/storyboard`: a multi-shot video on kling-v3-omni, from your own shots or from one prompt."""

from __future__ import annotations

from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import KlingBot, Services
from bot.domain.i18n import N_
from bot.domain.storyboard import shots_from_lines
from bot.features.requests import StoryboardOptions
from cogs.tickets import (
    SHARED_OPTION_WORDS,
    AspectRatio,
    ElementNames,
    ExplainedModal,
    Mode,
    Prompt,
    Seconds,
    answer_with_ticket,
    attachment_infos,
    requester_of,
    require_video_rights,
    suggest_elements,
)


class ShotsModal(ExplainedModal, title=N_("Storyboard")):
    """The shots, one a line, for a `/storyboard` typed without them; the other options wait."""

    what = "the storyboard form"

    shots: discord.ui.TextInput[ShotsModal] = discord.ui.TextInput(
        label=N_("One shot a line — seconds: what happens"),
        style=discord.TextStyle.paragraph,
        placeholder=N_("2: a dog stands by the sea\n3: it runs along the beach"),
        min_length=1,
        max_length=4000,
    )

    def __init__(self, services: Services, options: StoryboardOptions) -> None:
        super().__init__()
        self.services = services
        self.options = options

    async def on_submit(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Checked like the `shots` option, then queued and answered like it."""
        lines = " | ".join(f"{s}: {text}" for s, text in shots_from_lines(self.shots.value))
        options = replace(self.options, shots=lines)
        generation = self.services.generation
        ticket = await generation.request_storyboard(requester_of(interaction), options)
        await answer_with_ticket(interaction, generation, ticket, options.attachments)


class StoryboardCog(commands.Cog):
    """Make multi-shot videos."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="storyboard", description="Make a multi-shot video (kling-v3-omni)")
    @app_commands.guild_only()
    @app_commands.describe(
        **SHARED_OPTION_WORDS,
        shots="Your shots, seconds first: 2: a dog by the sea | 3: it runs (leave out for a form)",
        prompt="Or one description, and Kling plans the shots",
        duration="Total seconds, 3 to 15 (with shots: their sum)",
        aspect_ratio="Shape of the video",
        image_1="A reference image: <<<image_1>>> in a shot",
    )
    async def storyboard(
        self,
        interaction: discord.Interaction[KlingBot],
        shots: app_commands.Range[str, 1, 3200] | None = None,
        prompt: Prompt | None = None,
        duration: Seconds | None = None,
        mode: Mode | None = None,
        aspect_ratio: AspectRatio | None = None,
        sound: bool | None = None,
        image_1: discord.Attachment | None = None,
        image_2: discord.Attachment | None = None,
        image_3: discord.Attachment | None = None,
        elements: ElementNames | None = None,
    ) -> None:
        """Validate and queue a storyboard, then answer like `/video`; with neither shots nor a
        prompt, ask for the shots in a form first."""
        require_video_rights(interaction)
        attachments = attachment_infos(image_1=image_1, image_2=image_2, image_3=image_3)
        options = StoryboardOptions(
            shots=shots,
            prompt=prompt,
            duration=duration,
            mode=mode,
            aspect_ratio=aspect_ratio,
            sound=sound,
            elements=elements,
            attachments=attachments,
        )
        if shots is None and prompt is None:
            await interaction.response.send_modal(ShotsModal(self.services, options))
            return
        generation = self.services.generation
        ticket = await generation.request_storyboard(requester_of(interaction), options)
        await answer_with_ticket(interaction, generation, ticket, attachments)

    @storyboard.autocomplete("elements")
    async def _elements(
        self, interaction: discord.Interaction[KlingBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await suggest_elements(self.services.elements, interaction, current)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(StoryboardCog(bot.services))

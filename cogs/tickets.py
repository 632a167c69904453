"""What the cogs share: who is asking as plain data, private answers, the accepted-task flow
(the status message, the inputs, the release), and cogs whose buttons survive restarts."""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar, Literal, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.answers import explain_failure
from bot.discord.buttons import RESULT_BUTTONS, ResultAction
from bot.discord.client import KlingBot, Services
from bot.discord.language import speak_to
from bot.discord.translate import (
    cancel_view,
    channel_rights,
    facts_of,
    result_button,
    status_embed,
)
from bot.domain.channel_rights import clip_refusal, video_refusal
from bot.domain.errors import KlingBotError, MissingPermissions
from bot.domain.i18n import _, translated
from bot.domain.moderation import MemberFacts
from bot.domain.records import InteractionToken
from bot.engine.pause_points import BEFORE_ANSWER, BEFORE_RELEASE
from bot.features.elements import ElementLibrary
from bot.features.generation import GenerationService, Ticket
from bot.features.media import AttachmentInfo
from bot.features.render import StatusView, status_view
from bot.features.requests import Requester

MAX_TASK_ID = 2**53 - 1  # the largest task number an option takes (JavaScript's safe integers)

# The options /video and /storyboard share: their types, and the words Discord shows under them.
Prompt = app_commands.Range[str, 1, 2500]
Mode = Literal["std", "pro"]
AspectRatio = Literal["16:9", "9:16", "1:1"]
Seconds = app_commands.Range[int, 3, 15]
ElementNames = app_commands.Range[str, 1, 200]
SHARED_OPTION_WORDS = {
    "mode": "std: 720p, faster and cheaper · pro: 1080p",
    "sound": "Generate sound too",
    "image_2": "A second reference image: <<<image_2>>>",
    "image_3": "A third reference image: <<<image_3>>>",
    "elements": "Elements from the server's library (names) or Kling element IDs, by commas",
}


def actor_facts(interaction: discord.Interaction[KlingBot]) -> MemberFacts:
    """Whoever ran the command, as the moderator rule sees them."""
    return facts_of(interaction.user)


def guild_id_of(interaction: discord.Interaction[KlingBot]) -> int:
    """The server the command ran in (the commands are guild-only)."""
    assert interaction.guild_id is not None
    return interaction.guild_id


async def think_privately(interaction: discord.Interaction[KlingBot]) -> None:
    """Acknowledge at once (Discord allows 3 s), privately: the store may be busy."""
    await interaction.response.defer(ephemeral=True, thinking=True)


async def answer(
    interaction: discord.Interaction[KlingBot],
    *,
    view: StatusView | None = None,
    text: str | None = None,
    buttons: discord.ui.View | None = None,
) -> None:
    """The private answer to a deferred command: an embed or a sentence, pinging nobody."""
    await interaction.followup.send(
        content=discord.utils.MISSING if text is None else text,
        embed=discord.utils.MISSING if view is None else status_embed(view),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
        view=discord.utils.MISSING if buttons is None else buttons,
    )


async def suggest_elements(
    library: ElementLibrary, interaction: discord.Interaction[KlingBot], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete of an `elements` option: the library's names that fit what is typed."""
    if interaction.guild_id is None:
        return []
    values = await library.suggest(interaction.guild_id, str(current))
    return [app_commands.Choice(name=value, value=value) for value in values]


def requester_of(interaction: discord.Interaction[KlingBot]) -> Requester:
    """Who is asking, and where, as plain data."""
    assert interaction.guild_id is not None and interaction.channel_id is not None
    user = interaction.user
    role_ids = tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
    return Requester(
        interaction.guild_id, interaction.channel_id, user.id, role_ids, name=user.display_name
    )


def require_video_rights(
    interaction: discord.Interaction[KlingBot], *, with_clip: bool = False
) -> None:
    """Refuse, before anything is charged, a video where its status and result can't be posted
    (or, `with_clip`, where the bot can't attach the member's clip for Kling to fetch)."""
    rights = channel_rights(interaction.app_permissions, interaction.channel)
    refusal = clip_refusal(rights) if with_clip else video_refusal(rights)
    if refusal is not None:
        raise MissingPermissions(refusal)


def reply_token_of(interaction: discord.Interaction[KlingBot]) -> InteractionToken:
    """The interaction's token (a secret) and when Discord stops taking followups with it."""
    return InteractionToken(interaction.application_id, interaction.token, interaction.expires_at)


def info_of(slot: str, attachment: discord.Attachment) -> AttachmentInfo:
    """Discord's metadata of an attached file, under the `/video` option it stands for."""
    return AttachmentInfo(
        slot=slot,
        filename=attachment.filename,
        url=attachment.url,
        size_bytes=attachment.size,
        content_type=attachment.content_type,
        width=attachment.width,
        height=attachment.height,
    )


def attachment_infos(**slots: discord.Attachment | None) -> tuple[AttachmentInfo, ...]:
    """Discord's metadata of the attached files, by option name."""
    return tuple(info_of(slot, a) for slot, a in slots.items() if a is not None)


async def answer_with_ticket(
    interaction: discord.Interaction[KlingBot],
    generation: GenerationService,
    ticket: Ticket,
    attachments: tuple[AttachmentInfo, ...],
) -> None:
    """Acknowledge with the public status message, keep the inputs, then release the task.

    The ticket's hold is stored with its charge and ends only at `release`: if Discord refuses
    the answer, or an input turns out to be unusable, the task is withdrawn with a refund here;
    if the bot dies first, the next start withdraws it. It never reaches the API unconfirmed.
    """
    pause_points = interaction.client.pause_points
    await pause_points.reached(BEFORE_ANSWER, ticket.task.log_context)
    view = status_view(ticket.task, position=None, now=interaction.client.clock.now())
    try:
        response = await interaction.response.send_message(
            embed=status_embed(view),
            allowed_mentions=discord.AllowedMentions.none(),
            view=cancel_view(ticket.task.id),
        )
    except Exception:
        # Refused, timed out or cut off: the member saw "the application did not respond"
        # and will likely try again. Don't charge for a task they never heard of.
        await generation.withdraw(ticket.task.id)
        raise
    interaction.client.note_acknowledged(interaction)
    message_id = response.message_id
    if message_id is not None:
        interaction.client.services.status.posted(ticket.task, message_id)
    try:
        if attachments:
            # Remembered before the download: if it fails, or the bot dies meanwhile, the
            # withdrawal is shown on this message (and a clip is lent to Discord on it).
            if message_id is not None:
                await generation.attach_status_message(ticket.task.id, message_id)
            await generation.keep_inputs(ticket, attachments)
        await pause_points.reached(BEFORE_RELEASE, ticket.task.log_context)
        await generation.release(
            ticket, status_message_id=message_id, reply_token=reply_token_of(interaction)
        )
    except Exception as failure:
        reason = (
            failure.member_message
            if isinstance(failure, KlingBotError)
            else _("The bot could not finish accepting this task, so it was withdrawn.")
        )
        await generation.withdraw(ticket.task.id, reason)
        raise  # the error handler tells the member privately why


class PersistentButtonsCog(commands.Cog):
    """A cog whose buttons work on any message, posted by this process or an earlier one: its
    dynamic items are registered while it is loaded (from `setup_hook`, before the gateway)."""

    buttons: ClassVar[tuple[type[discord.ui.DynamicItem[Any]], ...]] = ()

    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Handle presses from now on."""
        self.bot.add_dynamic_items(*self.buttons)

    async def cog_unload(self) -> None:
        """Stop handling presses with the cog."""
        self.bot.remove_dynamic_items(*self.buttons)


class SpeaksToPresser:
    """Mixed into a button (before `DynamicItem`): a press is answered in the presser's own
    language."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Every press may go on; from here the presser reads their own language."""
        speak_to(interaction)
        return True


RESULT_SPECS = {spec.action: spec for spec in RESULT_BUTTONS}


class ResultActionButton(
    SpeaksToPresser,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?!)",
):
    """A button under a result, rebuilt from its custom id (action and task) whenever it is
    pressed; each kind of button is a subclass with the template of its custom ids."""

    def __init__(self, action: ResultAction, task_id: int) -> None:
        super().__init__(result_button(RESULT_SPECS[action], task_id))
        self.action: ResultAction = action
        self.task_id = task_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction[KlingBot],
        item: discord.ui.Button[discord.ui.View],
        match: re.Match[str],
    ) -> Self:
        """The button a press names."""
        action: ResultAction = match["action"]  # type: ignore[assignment]  # template's choices
        return cls(action, int(match["task_id"]))

    async def callback(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Do what the button says; a refusal is said privately."""
        bot = interaction.client
        assert isinstance(bot, KlingBot)
        try:
            await self.act(interaction, bot.services)
        except Exception as error:
            await explain_failure(
                interaction, error, f"the {RESULT_SPECS[self.action].label} button"
            )

    async def act(self, interaction: discord.Interaction[KlingBot], services: Services) -> None:
        """What a press of this kind of button does."""
        raise NotImplementedError


class ExplainedModal(discord.ui.Modal):
    """A modal whose failures reach the member as every command's do: a private sentence."""

    what = "the form"  # how the log and the sentence name it

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # The title and the fields' words were written once for everyone (`N_`): this modal
        # shows them in the language of the member it opens for.
        self.title = translated(self.title or "")
        for item in self.children:
            if not isinstance(item, discord.ui.TextInput):
                continue
            # A text input's own label is deprecated for discord.ui.Label layouts, which
            # these modals don't use (discord.py forces "always": recorded, then dropped).
            with warnings.catch_warnings(record=True):
                item.label = item.label and translated(item.label)
            item.placeholder = item.placeholder and translated(item.placeholder)
            item.default = item.default and translated(item.default)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Every submission may go on; from here the member reads their own language."""
        speak_to(interaction)
        return True

    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[KlingBot], error: Exception
    ) -> None:
        """The same private sentences as every command."""
        await explain_failure(interaction, error, self.what)

"""The command tree and its one error handler: a failure becomes the sentence a member reads (our
`KlingBotError`s as they are, anything else as a logged reference), never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.language import speak_to
from bot.discord.time import is_too_old_to_answer
from bot.domain.errors import KlingBotError
from bot.domain.i18n import _, translated

if TYPE_CHECKING:
    from bot.discord.client import KlingBot

log = logging.getLogger(__name__)


class KlingTree(app_commands.CommandTree["KlingBot"]):
    """The command tree with the one error handler: members read sentences, never tracebacks."""

    async def interaction_check(self, interaction: discord.Interaction[KlingBot], /) -> bool:
        """Skip, before anything is charged or sent, an interaction too old to be answered
        (replayed after a long outage): Discord would refuse the answer anyway. From here on
        the member is answered in their own language."""
        speak_to(interaction)
        created_at_s = interaction.created_at.timestamp()
        if not is_too_old_to_answer(created_at_s, interaction.client.discord_clock.now()):
            return True
        log.warning(
            "skipped interaction %s (%s) guild_id=%s user_id=%s: created %.1f s ago, past "
            "Discord's time to answer",
            interaction.id,
            interaction.data.get("name", "?") if interaction.data else "?",
            interaction.guild_id,
            interaction.user.id,
            interaction.client.discord_clock.now() - created_at_s,
        )
        return False

    async def on_error(
        self, interaction: discord.Interaction[KlingBot], error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        what = interaction.command.qualified_name if interaction.command else "?"
        await explain_failure(interaction, cause, what)


async def explain_failure(
    interaction: discord.Interaction[KlingBot], cause: BaseException, what: str
) -> None:
    """Tell the member privately what went wrong: our sentence, or a logged reference."""
    if isinstance(cause, KlingBotError):
        text = translated(cause.member_message)
    elif isinstance(cause, app_commands.TransformerError):
        # e.g. a member option naming someone who has left the server since
        text = _(
            "{value} can't be used here: that member, role or file could not be "
            "found. Pick it again from the list."
        ).format(value=repr(cause.value))
    elif isinstance(cause, app_commands.NoPrivateMessage):
        text = _("This command only works in a server channel.")
    elif isinstance(cause, app_commands.CheckFailure):
        text = str(cause) or _("You can't use this command here.")
    else:
        reference = uuid.uuid4().hex[:8]
        log.error(
            "command %s failed ref=%s guild_id=%s user_id=%s",
            what,
            reference,
            interaction.guild_id,
            interaction.user.id,
            exc_info=cause,
        )
        text = _("Something went wrong on the bot's side (ref {reference}); it was logged.").format(
            reference=reference
        )
    await reply_privately(interaction, text)


async def reply_privately(interaction: discord.Interaction[KlingBot], text: str) -> None:
    """An ephemeral answer, whether or not the interaction was already acknowledged."""
    none = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)

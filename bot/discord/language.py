"""Which language the bot speaks: the member's own for what answers an interaction, the server's
for what it posts in a channel later, and the localized names and descriptions of the commands.

The catalogues are `bot.locales`; the sentences are marked in every layer with
`bot.domain.i18n`, whose context variable this module sets.
"""

from __future__ import annotations

import gettext
from typing import Any

import discord
from discord import app_commands

from bot.domain.i18n import ENGLISH, speak, speaking
from bot.locales import catalogue_for

# msgctxt of the names Discord types as identifiers (commands, groups, options) and of choices,
# so "video" the command and a sentence "video" never share a translation.
NAME_CONTEXT = "command"
CHOICE_CONTEXT = "choice"
_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


def speak_to(interaction: discord.Interaction[Any]) -> None:
    """Answer this interaction (the rest of its asyncio task) in the member's own language."""
    speak(catalogue_for(interaction.locale.value))


def server_language(guild: discord.Guild | None) -> gettext.NullTranslations:
    """The catalogue of a server's preferred language (for posts no one asked for just now)."""
    return ENGLISH if guild is None else catalogue_for(guild.preferred_locale.value)


def in_server_language(guild: discord.Guild | None) -> Any:
    """`with in_server_language(guild):` around what is posted in the server's channel (the
    server from `GuildDirectory.guild`: it may be one of another process's shards)."""
    return speaking(server_language(guild))


def command_key(
    message: str, location: app_commands.TranslationContextLocation, data: object
) -> tuple[str | None, str]:
    """The catalogue's (msgctxt, msgid) for one string of a command's definition."""
    if location in _NAMES and not isinstance(data, app_commands.ContextMenu):
        return NAME_CONTEXT, message
    if location is app_commands.TranslationContextLocation.choice_name:
        return CHOICE_CONTEXT, message
    return None, message  # descriptions, and a message command's name (it has spaces)


class CatalogueTranslator(app_commands.Translator):
    """Gives discord.py each command's names and descriptions in every translated locale."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The translation, or None where there is no catalogue (Discord shows the English)."""
        catalogue = catalogue_for(locale.value)
        if catalogue is ENGLISH:
            return None
        msgctxt, msgid = command_key(string.message, context.location, context.data)
        if msgctxt is None:
            return catalogue.gettext(msgid)
        return catalogue.pgettext(msgctxt, msgid)

"""The Discord side of clip hosting: attach a kept clip to a bot message, re-read it for a URL.

What to lend where, and when, is decided in `clip_hosting.py`; this module only talks to Discord.
A refusal that will not change (no Attach Files, a file over the channel's upload limit) is an
`InvalidInput` the member reads; an outage is a transient `ApiError`, so a task waiting to be
sent goes back in line instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import discord

from bot.discord.uploads import TRANSIENT_ERRORS
from bot.domain.errors import ApiError, ApiErrorKind, InvalidInput
from bot.domain.i18n import N_, _
from bot.features.clip_hosting import ClipPlace

log = logging.getLogger(__name__)

_UPLOAD_TOO_LARGE = 40005
NO_ATTACH = N_(
    "The bot can't attach your clip in this channel (Kling fetches clips from Discord, so the "
    "bot re-posts it on the task's message). Ask an admin to give the bot Attach Files here."
)
TOO_LARGE = N_(
    "Your clip is larger than the bot may upload in this channel (Kling fetches clips from "
    "Discord, so the bot re-posts it on the task's message). Trim or compress it."
)


class DiscordClipHost:
    """`ClipHost` on the bot's own messages, through discord.py."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _message(self, place: ClipPlace) -> discord.PartialMessage:
        channel = self._client.get_partial_messageable(place.channel_id, guild_id=place.guild_id)
        return channel.get_partial_message(place.message_id)

    async def put(self, place: ClipPlace, path: Path, filename: str) -> None:
        """Attach the file to the bot's message (replacing what it carried)."""
        file = await asyncio.to_thread(discord.File, path, filename)
        try:
            await self._message(place).edit(attachments=[file])
        except discord.Forbidden:
            raise InvalidInput(_(NO_ATTACH)) from None
        except discord.NotFound:
            raise InvalidInput(
                _("The task's message was deleted before the bot could attach your clip to it.")
            ) from None
        except discord.HTTPException as error:
            if error.code == _UPLOAD_TOO_LARGE or error.status == 413:
                raise InvalidInput(_(TOO_LARGE)) from None
            raise ApiError(ApiErrorKind.TRANSIENT, f"Discord {error.status}") from None
        except TRANSIENT_ERRORS as error:
            raise ApiError(ApiErrorKind.TRANSIENT, type(error).__name__) from None
        finally:
            file.close()

    async def url(self, place: ClipPlace, filename: str) -> str | None:
        """A freshly signed URL of the attachment, or None when the message or file is gone."""
        try:
            message = await self._message(place).fetch()
        except (discord.NotFound, discord.Forbidden):
            return None
        except discord.HTTPException as error:
            raise ApiError(ApiErrorKind.TRANSIENT, f"Discord {error.status}") from None
        except TRANSIENT_ERRORS as error:
            raise ApiError(ApiErrorKind.TRANSIENT, type(error).__name__) from None
        for attachment in message.attachments:
            if attachment.filename == filename:
                return attachment.url
        log.info("clip not on message message_id=%s filename=%s", place.message_id, filename)
        return None

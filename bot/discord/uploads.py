"""What posting a result needs wherever it goes (a channel, a followup, a direct message): the
MP4 opened off the event loop, Discord's refusals explained, and the limits of a private post.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bot.domain.delivery import DeliveryError, ResultFile, result_filename
from bot.domain.records import TaskRecord

log = logging.getLogger(__name__)

# Failures of the network or of Discord's side: trying again later may work. (discord.py lets
# OSError through from its HTTP loop; TimeoutError is one.)
TRANSIENT_ERRORS = (discord.RateLimited, aiohttp.ClientError, OSError)
UPLOAD_TOO_LARGE = 40005
# A bot's uploads in a direct message (no server boosts there), and where the server is unknown.
PRIVATE_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
NO_MENTIONS = discord.AllowedMentions.none()


async def open_video(task: TaskRecord, result: ResultFile) -> discord.File | None:
    """The MP4 as an upload, by path: discord.py streams it and re-reads it on a retry."""
    if result.path is None:
        return None
    try:
        # Opening touches the disk: keep it off the event loop.
        return await asyncio.to_thread(
            discord.File,
            result.path,
            filename=result_filename(task.id),
            description=f"Kling video for task #{task.id}",
        )
    except OSError:
        log.warning("downloaded video unreadable %s; posting the link", task.log_context)
        return None


def explain(error: discord.HTTPException, where: str) -> DeliveryError:
    """Discord's refusal (other than a permission), and whether trying again could help."""
    if error.status == 404:
        return DeliveryError(
            f"{where} no longer exists, or the bot left the server", permanent=True
        )
    if error.status == 429 or error.status >= 500:
        return DeliveryError(
            f"Discord is busy or failing ({error.status}); trying again later", permanent=False
        )
    if error.status == 401:
        return DeliveryError("Discord refused the bot's token", permanent=False)
    return DeliveryError(
        f"Discord refused the message in {where} ({error.status}/{error.code}: {error.text})",
        permanent=True,
    )

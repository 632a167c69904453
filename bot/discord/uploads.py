"""What posting a result needs wherever it goes (a channel, a followup, a direct message): the
MP4 opened off the event loop, Discord's refusals explained, and the limits of a private post.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bot.domain.channel_rights import VIEW_CHANNEL, ChannelRights, missing_to_post
from bot.domain.delivery import DeliveryError, ResultFile, result_filename
from bot.domain.i18n import N_, _
from bot.domain.records import TaskRecord

log = logging.getLogger(__name__)

# Failures of the network or of Discord's side: trying again later may work. (discord.py lets
# OSError through from its HTTP loop; TimeoutError is one.)
TRANSIENT_ERRORS = (discord.RateLimited, aiohttp.ClientError, OSError)
UPLOAD_TOO_LARGE = 40005
MISSING_ACCESS = 50001
ARCHIVED_THREAD = 50083
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
            description=_("Kling video for task #{id}").format(id=task.id),
        )
    except OSError:
        log.warning("downloaded video unreadable %s; posting the link", task.log_context)
        return None


def unreachable(error: BaseException) -> DeliveryError:
    """A network error on the way to Discord: trying again later may help."""
    return DeliveryError(
        N_("Discord could not be reached ({error})").format(error=type(error).__name__),
        permanent=False,
    )


def explain(error: discord.HTTPException, where: str) -> DeliveryError:
    """Discord's refusal (other than a permission), and whether trying again could help."""
    if error.status == 404:
        return DeliveryError(
            N_("{where} no longer exists, or the bot left the server").format(where=where),
            permanent=True,
        )
    if error.status == 429 or error.status >= 500:
        return DeliveryError(
            N_("Discord is busy or failing ({status}); trying again later").format(
                status=error.status
            ),
            permanent=False,
        )
    if error.status == 401:
        return DeliveryError(N_("Discord refused the bot's token"), permanent=False)
    return DeliveryError(
        N_("Discord refused the message in {where} ({status}/{code}: {text})").format(
            where=where, status=error.status, code=error.code, text=error.text
        ),
        permanent=True,
    )


def channel_problem(
    where: str, rights: ChannelRights | None, refusal: discord.HTTPException | None
) -> str:
    """Why no post could be made in the channel, as an admin can act on it: the permission
    that is the cause, never one Discord only implies (Attach Files without Send Messages).
    In English (it may become the task's stored reason), marked to be shown translated."""
    cant_see = N_("the bot can't see {where}: grant View Channel")
    if refusal is not None and refusal.code == MISSING_ACCESS:
        return cant_see.format(where=where)
    if (refusal is not None and refusal.code == ARCHIVED_THREAD) or (
        rights is not None and rights.is_archived and rights.is_locked and not rights.can_post
    ):
        return N_("{where} is an archived, locked thread the bot can't reopen").format(where=where)
    missing = () if rights is None else missing_to_post(rights)
    if missing == (VIEW_CHANNEL,):
        return cant_see.format(where=where)
    if missing:
        return N_("the bot may not post in {where}: grant {permissions}").format(
            where=where, permissions=", ".join(missing)
        )
    if refusal is not None:
        return N_("the bot lacks a permission in {where} (Discord said: {text})").format(
            where=where, text=refusal.text
        )
    return N_("the bot may not post in {where}").format(where=where)

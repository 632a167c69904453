"""The discord.py adapters: post a finished video to its channel, keep status messages current.

Both talk to Discord with the bot token through the channel, never with the interaction token:
that dies after 15 minutes and a video can take longer (discord.md §1.1). The decisions (what the
embed says, file or link, the words of the result message) live in `bot.render` and
`bot.delivery`; this module only does the I/O and maps Discord's errors onto `DeliveryError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord

from bot.delivery import DeliveryError, Form, ResultFile, choose_form
from bot.lifecycle import TaskState
from bot.records import TaskRecord
from bot.render import RERUN_EMOJI, is_result_text, result_text
from bot.store import TaskStore
from bot.telemetry import NoTelemetry, Telemetry

log = logging.getLogger("bot.discord_delivery")

# Channels a result can be posted in: they can send, read history and tell the bot's permissions.
PostChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.Thread
Positions = Callable[[], Awaitable[dict[int, int]]]

HISTORY_LOOKBACK = 50  # messages searched for an earlier post of the same result
CLOCK_SKEW = timedelta(minutes=1)  # our clock vs Discord's snowflake clock, when searching
# Failures of the network or of Discord's side: trying again later may work. (discord.py lets
# OSError through from its HTTP loop; TimeoutError is one.)
TRANSIENT_ERRORS = (discord.RateLimited, aiohttp.ClientError, OSError)
_UPLOAD_TOO_LARGE = 40005
_MISSING_ACCESS = 50001
_MISSING_PERMISSIONS = 50013
_FINISHED_MEMORY = 10_000  # task ids whose final state was shown; enough to outlast stragglers
_POSTED_MEMORY = 1_000


class _RefusedAsTooLarge(Exception):
    """Discord refused the upload as too large (413/40005): post the link instead."""


def requester_only(user_id: int | None) -> discord.AllowedMentions:
    """Mentions that ping the requester and no one else, whatever the text says."""
    if user_id is None:
        return discord.AllowedMentions.none()
    # Every flag is spelled out: AllowedMentions(users=[…]) alone leaves everyone/roles True,
    # and the client-wide defaults are merged into whatever is left unset.
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(id=user_id)], roles=False, replied_user=False
    )


class DiscordDeliverer:
    """Posts a task's video in the task's channel, exactly once, replying to its status message."""

    def __init__(
        self, client: discord.Client, store: TaskStore, telemetry: Telemetry | None = None
    ) -> None:
        self._client = client
        self._store = store
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        # Posts made by this process: a retry after an error while recording needs no history.
        self._posted: OrderedDict[int, int] = OrderedDict()

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Post the result once (a repeat finds the earlier post); return the message id."""
        if task.delivery_message_id is not None:
            return task.delivery_message_id  # recorded as delivered already
        if task.id in self._posted:
            # Posted (and reacted to) by this process; only recording it failed last time.
            await self._store.link_message(self._posted[task.id], task.id, "result")
            return self._posted[task.id]
        if task.channel_id is None:
            raise DeliveryError("the task has no Discord channel to post in", permanent=True)
        channel = await self._channel(task.channel_id)
        earlier = await self._earlier_post(channel, task)
        if earlier is not None:
            log.info("already posted %s message_id=%s", task.log_context, earlier.id)
            await self._finish(earlier, task)
            return earlier.id
        limit = channel.guild.filesize_limit
        form = choose_form(result, limit)
        try:
            message = await self._attempt(channel, task, result, form, limit)
        except _RefusedAsTooLarge:
            # Our size table lags Discord's real limit sometimes (discord.py#10083): link it.
            log.info("upload refused as too large %s; posting the link", task.log_context)
            form = Form.LINK
            message = await self._attempt(channel, task, result, form, limit)
        self._telemetry.delivered(form.value)
        self._posted[task.id] = message.id
        while len(self._posted) > _POSTED_MEMORY:
            self._posted.popitem(last=False)  # a retry comes within minutes, not thousands later
        await self._finish(message, task)
        return message.id

    async def _channel(self, channel_id: int) -> PostChannel:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(channel_id)
            except discord.NotFound as error:
                raise DeliveryError(
                    f"the channel <#{channel_id}> no longer exists", permanent=True
                ) from error
            except discord.Forbidden as error:
                raise DeliveryError(
                    f"the bot can't see the channel <#{channel_id}>: grant View Channel",
                    permanent=True,
                ) from error
            except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
                raise DeliveryError(
                    f"Discord could not be asked about the channel ({error})", permanent=False
                ) from error
        if not isinstance(channel, PostChannel):
            raise DeliveryError(
                f"<#{channel_id}> is not a channel the bot can post videos in", permanent=True
            )
        return channel

    async def _earlier_post(self, channel: PostChannel, task: TaskRecord) -> discord.Message | None:
        """The result message an earlier attempt posted (before a crash or an error), if any.

        The nonce makes Discord itself drop a repeat, but only for a few minutes; the history
        covers a restart that took longer.
        """
        me = self._client.user
        if me is None:
            raise DeliveryError("the bot is not logged in to Discord", permanent=False)
        since = await self._delivery_started_at(task) - CLOCK_SKEW
        try:
            async for message in channel.history(
                limit=HISTORY_LOOKBACK, after=since, oldest_first=True
            ):
                if (
                    message.author.id == me.id
                    and message.interaction_metadata is None
                    and is_result_text(message.content, task.id)
                ):
                    return message
        except discord.Forbidden:
            # Without Read Message History only the nonce protects against a double post.
            log.warning("can't read the history of #%s %s", channel.name, task.log_context)
            return None
        except discord.NotFound as error:
            raise DeliveryError(f"#{channel.name} no longer exists", permanent=True) from error
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            # Posting blind could post twice: try again later instead.
            raise DeliveryError(
                f"Discord could not show the channel's history ({error})", permanent=False
            ) from error
        return None

    async def _delivery_started_at(self, task: TaskRecord) -> datetime:
        """When the task first entered `delivering`: no post of it can be older."""
        events = await self._store.task_events(task.id)
        started = [e.at for e in events if e.to_state is TaskState.DELIVERING]
        return min(started, default=task.created_at)

    async def _attempt(
        self,
        channel: PostChannel,
        task: TaskRecord,
        result: ResultFile,
        form: Form,
        upload_limit: int,
    ) -> discord.Message:
        """One post, with Discord's errors turned into `DeliveryError` (or a too-large refusal)."""
        # discord.py's overloads don't admit None for these two, though send() does.
        optional: dict[str, Any] = {}
        if task.status_message_id is not None:
            # fail_if_not_exists=False: a deleted status message must not stop the delivery.
            optional["reference"] = discord.MessageReference(
                message_id=task.status_message_id,
                channel_id=channel.id,
                guild_id=channel.guild.id,
                fail_if_not_exists=False,
            )
        file = await _open_video(task, result) if form is Form.FILE else None
        if file is None:
            form = Form.LINK
        else:
            optional["file"] = file
        content = result_text(task, form, result.size_bytes, upload_limit, url=result.url)
        try:
            # A fixed nonce per task: with it, discord.py 2.7.1 also sends enforce_nonce, so
            # Discord answers a repeat with the first message instead of posting a second.
            return await channel.send(
                content,
                nonce=f"kob-{task.id}",
                allowed_mentions=requester_only(task.user_id),
                **optional,
            )
        except discord.HTTPException as error:
            if form is Form.FILE and (error.status == 413 or error.code == _UPLOAD_TOO_LARGE):
                raise _RefusedAsTooLarge from error
            raise _explain(error, channel, form=form, task=task) from error
        except TRANSIENT_ERRORS as error:
            raise DeliveryError(
                f"Discord could not be reached ({type(error).__name__})", permanent=False
            ) from error
        finally:
            if file is not None:
                file.close()

    async def _finish(self, message: discord.Message, task: TaskRecord) -> None:
        """Add the rerun reaction (once) and link the message to its task."""
        has_reaction = any(r.me and str(r.emoji) == RERUN_EMOJI for r in message.reactions)
        if not has_reaction:
            try:
                await message.add_reaction(RERUN_EMOJI)
            except (discord.HTTPException, *TRANSIENT_ERRORS):
                # The video is posted; only the shortcut is missing, and 🔁 still works.
                log.warning(
                    "could not add %s to message_id=%s %s",
                    RERUN_EMOJI,
                    message.id,
                    task.log_context,
                    exc_info=True,
                )
        await self._store.link_message(message.id, task.id, "result")


async def _open_video(task: TaskRecord, result: ResultFile) -> discord.File | None:
    """The MP4 as an upload, by path: discord.py streams it and re-reads it on a retry."""
    if result.path is None:
        return None
    try:
        # Opening touches the disk: keep it off the event loop.
        return await asyncio.to_thread(
            discord.File,
            result.path,
            filename=f"kling-{task.id}.mp4",
            description=f"Kling video for task #{task.id}",
        )
    except OSError:
        log.warning("downloaded video unreadable %s; posting the link", task.log_context)
        return None


def _where(channel: PostChannel) -> str:
    return f"#{channel.name}"


def _explain(
    error: discord.HTTPException, channel: PostChannel, *, form: Form, task: TaskRecord
) -> DeliveryError:
    """Discord's refusal, as a reason an admin can act on, and whether to try again."""
    where = _where(channel)
    if error.status == 403 and error.code == _MISSING_ACCESS:
        return DeliveryError(f"the bot can't see {where}: grant View Channel", permanent=True)
    if error.status == 403 and error.code == _MISSING_PERMISSIONS:
        # Discord doesn't say which permission; the cached overwrites and roles do.
        missing = _missing_permissions(channel, form=form, replying=task.status_message_id)
        if missing == ["Attach Files"]:
            reason = f"the bot may not send files in {where}: grant Attach Files"
        elif missing:
            reason = f"the bot may not post in {where}: grant {', '.join(missing)}"
        else:
            reason = f"the bot lacks a permission in {where} (Discord said: {error.text})"
        return DeliveryError(reason, permanent=True)
    if error.status == 403:
        return DeliveryError(
            f"Discord forbade the post in {where} ({error.code}: {error.text})", permanent=True
        )
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


def _missing_permissions(channel: PostChannel, *, form: Form, replying: int | None) -> list[str]:
    """The permissions the post needed that the bot lacks, as the server settings name them."""
    me = channel.guild.me
    if me is None:
        return []
    have = channel.permissions_for(me)
    in_thread = isinstance(channel, discord.Thread)
    needed = [
        ("view_channel", "View Channel"),
        (
            ("send_messages_in_threads", "Send Messages in Threads")
            if in_thread
            else ("send_messages", "Send Messages")
        ),
    ]
    if form is Form.FILE:
        needed.append(("attach_files", "Attach Files"))
    if replying is not None:
        needed.append(("read_message_history", "Read Message History"))
    return [label for flag, label in needed if not getattr(have, flag)]

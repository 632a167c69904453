"""The discord.py adapters: post a finished video to its channel, keep status messages current.

Both talk to Discord with the bot token through the channel: the interaction token dies after 15
minutes and a video can take longer
(https://discord.com/developers/docs/interactions/receiving-and-responding). It serves only as the
last way but one to give a member their video when the channel refuses it. The decisions (what the
embed says, which post to try, the words of the result message) live in `bot.features.render`,
`bot.engine.courier` and `bot.domain.channel_rights`; this module only does the I/O and maps
Discord's errors onto `DeliveryError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.discord.guilds import directory_of
from bot.discord.language import in_server_language
from bot.discord.private_delivery import PrivateDelivery
from bot.discord.translate import channel_rights, requester_only, result_view
from bot.discord.uploads import (
    ARCHIVED_THREAD,
    TRANSIENT_ERRORS,
    UPLOAD_TOO_LARGE,
    channel_problem,
    explain,
    open_video,
    unreachable,
)
from bot.domain.channel_rights import ChannelRights
from bot.domain.delivery import (
    ChannelPost,
    DeliveryError,
    Form,
    ResultFile,
    channel_posts,
    choose_form,
    delivery_nonce,
)
from bot.domain.i18n import N_, _
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.domain.telemetry import NoTelemetry, Telemetry
from bot.engine.task_engine import utc_now
from bot.features.chain_post import ExtraFile, PostExtras, ResultExtras
from bot.features.render import CONTENT_MAX_CHARS, RERUN_EMOJI
from bot.features.render_result import is_result_text, result_text
from bot.store import TaskStore

log = logging.getLogger(__name__)

# Channels a result can be posted in: they can send, read history and tell the bot's permissions.
PostChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.Thread
Positions = Callable[[], Awaitable[dict[int, int]]]

CLOCK_SKEW = timedelta(minutes=1)  # our clock vs Discord's snowflake clock, when searching
_MISSING_PERMISSIONS = 50013
_FINISHED_MEMORY = 10_000  # task ids whose final state was shown; enough to outlast stragglers
_POSTED_MEMORY = 1_000


class _RefusedAsTooLarge(Exception):
    """Discord refused the upload as too large (413/40005): post the link instead."""


class _Refused(Exception):
    """Discord refused a post for a permission (or an archived thread): try a smaller one."""

    def __init__(self, error: discord.HTTPException) -> None:
        super().__init__(error.code)
        self.error = error


class DiscordDeliverer:
    """Posts a task's video in the task's channel, exactly once, replying to its status message.

    When the channel refuses it (a permission removed while the video rendered, a deleted
    channel, a locked thread), the video still reaches the member: without the reply, as a
    link, then privately through the command's token while it lives, else in a direct
    message. Only when all of these fail is it undeliverable (and refunded).
    """

    def __init__(
        self,
        client: discord.Client,
        store: TaskStore,
        telemetry: Telemetry | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        extras: ResultExtras | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._clock = clock
        self._private = PrivateDelivery(client, store, clock, self._earlier_post)
        self._guilds = directory_of(client)  # servers of other processes' shards too
        self._extras = extras  # what a result message adds (an extension's joined chain)
        # Posts made by this process (None: in private): a retry after an error while
        # recording needs no history.
        self._posted: OrderedDict[int, int | None] = OrderedDict()

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Post the result once (a repeat finds the earlier post); return the message id, or
        None when it went to the member in private. Worded in the server's language."""
        with in_server_language(await self._guilds.guild(task.guild_id)):
            return await self._deliver(task, result)

    async def _deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        if task.delivery_message_id is not None:
            return task.delivery_message_id  # recorded as delivered already
        if task.id in self._posted:
            # Posted (and reacted to) by this process; only recording it failed last time.
            posted = self._posted[task.id]
            if posted is not None:
                await self._store.link_message(posted, task.id, "result")
            return posted
        if task.channel_id is None:
            raise DeliveryError(N_("the task has no Discord channel to post in"), permanent=True)
        try:
            message = await self._to_channel(task, task.channel_id, result)
        except DeliveryError as refused:
            if not refused.permanent or task.user_id is None:
                raise
            log.warning("channel refused %s: %s; trying in private", task.log_context, refused)
            await self._private.to_member(task, task.user_id, result, refused.reason)
            self._telemetry.delivered("private")
            self._remember(task.id, None)
            return None
        self._remember(task.id, message.id)
        await self._finish(message, task)
        return message.id

    def _remember(self, task_id: int, message_id: int | None) -> None:
        self._posted[task_id] = message_id
        while len(self._posted) > _POSTED_MEMORY:
            self._posted.popitem(last=False)  # a retry comes within minutes, not thousands later

    # -- in the channel ---------------------------------------------------------------------

    async def _to_channel(
        self, task: TaskRecord, channel_id: int, result: ResultFile
    ) -> discord.Message:
        """The result in its channel: an earlier post of it, or the best post Discord takes."""
        channel = await self._channel(channel_id)
        earlier = await self._earlier_post(channel, task)
        if earlier is not None:
            log.info("already posted %s message_id=%s", task.log_context, earlier.id)
            return earlier
        # A server of another process's shard is not in this one's cache: ask Discord.
        limit = (await self._guilds.guild(channel.guild.id) or channel.guild).filesize_limit
        rights = _rights_in(channel)
        form = choose_form(result, limit)
        extras = PostExtras() if self._extras is None else await self._extras.extras(task, limit)
        refusal: discord.HTTPException | None = None
        for post in channel_posts(form, rights, has_status=task.status_message_id is not None):
            link_reason = None
            if form is Form.FILE and post.form is Form.LINK:
                link_reason = _("The bot may not attach files here")
            try:
                try:
                    message = await self._post(
                        channel, task, result, post, limit, link_reason, extras
                    )
                except _RefusedAsTooLarge:
                    # Our size table lags Discord's real limit sometimes (discord.py#10083).
                    log.info("upload refused as too large %s; posting the link", task.log_context)
                    post = ChannelPost(Form.LINK, post.is_reply)
                    message = await self._post(channel, task, result, post, limit, None, extras)
                self._telemetry.delivered(post.form.value)
                return message
            except _Refused as refused:
                refusal = refused.error
                log.info("post refused %s (%s)", task.log_context, refused.error.code)
                if refusal.code != _MISSING_PERMISSIONS:
                    break  # not a permission a smaller post could do without
        raise DeliveryError(channel_problem(_where(channel), rights, refusal), permanent=True)

    async def _channel(self, channel_id: int) -> PostChannel:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._client.fetch_channel(channel_id)
            except discord.NotFound as error:
                raise DeliveryError(
                    N_("the channel {channel} no longer exists").format(channel=f"<#{channel_id}>"),
                    permanent=True,
                ) from error
            except discord.Forbidden as error:
                raise DeliveryError(
                    N_("the bot can't see the channel {channel}: grant View Channel").format(
                        channel=f"<#{channel_id}>"
                    ),
                    permanent=True,
                ) from error
            except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
                raise DeliveryError(
                    N_("Discord could not be asked about the channel ({error})").format(
                        error=error
                    ),
                    permanent=False,
                ) from error
        if not isinstance(channel, PostChannel):
            raise DeliveryError(
                N_("{channel} is not a channel the bot can post videos in").format(
                    channel=f"<#{channel_id}>"
                ),
                permanent=True,
            )
        return channel

    async def _earlier_post(
        self, channel: PostChannel | discord.DMChannel, task: TaskRecord
    ) -> discord.Message | None:
        """The result message an earlier attempt posted (before a crash or an error), if any.

        The nonce makes Discord itself drop a repeat, but only for a few minutes; the history
        covers a restart that took longer. Every message since the delivery started is looked
        at, however busy the channel (discord.py pages 100 at a time, oldest first: the post
        came soon after the start, so it is usually on the first page).
        """
        me = self._client.user
        if me is None:
            raise DeliveryError(N_("the bot is not logged in to Discord"), permanent=False)
        since = await self._delivery_started_at(task) - CLOCK_SKEW
        where = _where(channel)
        try:
            async for message in channel.history(limit=None, after=since, oldest_first=True):
                if (
                    message.author.id == me.id
                    and message.interaction_metadata is None
                    and is_result_text(message.content, task.id)
                    and _replies_to_status_or_nothing(message, task)
                ):
                    return message
        except discord.Forbidden:
            # Without Read Message History only the nonce protects against a double post.
            log.warning("can't read the history of %s %s", where, task.log_context)
            return None
        except discord.NotFound as error:
            raise DeliveryError(
                N_("{where} no longer exists").format(where=where), permanent=True
            ) from error
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            # Posting blind could post twice: try again later instead.
            raise DeliveryError(
                N_("Discord could not show the history of {where} ({error})").format(
                    where=where, error=error
                ),
                permanent=False,
            ) from error
        return None

    async def _delivery_started_at(self, task: TaskRecord) -> datetime:
        """When the task first entered `delivering`: no post of it can be older."""
        events = await self._store.task_events(task.id)
        started = [e.at for e in events if e.to_state is TaskState.DELIVERING]
        return min(started, default=task.created_at)

    async def _post(
        self,
        channel: PostChannel,
        task: TaskRecord,
        result: ResultFile,
        post: ChannelPost,
        upload_limit: int,
        link_reason: str | None,
        extras: PostExtras,
    ) -> discord.Message:
        """One post; `_Refused` for a missing permission, `DeliveryError` for anything else."""
        # discord.py's overloads don't admit None for these two, though send() does.
        optional: dict[str, Any] = {}
        if post.is_reply and task.status_message_id is not None:
            # fail_if_not_exists=False: a deleted status message must not stop the delivery.
            optional["reference"] = discord.MessageReference(
                message_id=task.status_message_id,
                channel_id=channel.id,
                guild_id=channel.guild.id,
                fail_if_not_exists=False,
            )
        form = post.form
        file = await open_video(task, result) if form is Form.FILE else None
        files = [] if file is None else [file]
        if file is None:
            form = Form.LINK
        elif extras.file is not None and (extra := await _open_extra(extras.file)) is not None:
            files.append(extra)
        if files:
            optional["files"] = files
        content = _with_lines(
            result_text(
                task,
                form,
                result.size_bytes,
                upload_limit,
                url=result.url,
                link_reason=link_reason,
                has_buttons=True,
            ),
            extras.text(is_attached=len(files) > 1),
        )
        try:
            # A fixed nonce per task: with it, discord.py 2.7.1 also sends enforce_nonce, so
            # Discord answers a repeat with the first message instead of posting a second.
            return await channel.send(
                content,
                nonce=delivery_nonce(task.external_id),
                allowed_mentions=requester_only(task.user_id),
                view=result_view(task.id),
                **optional,
            )
        except discord.HTTPException as error:
            if form is Form.FILE and (error.status == 413 or error.code == UPLOAD_TOO_LARGE):
                raise _RefusedAsTooLarge from error
            if error.status == 403 or error.code == ARCHIVED_THREAD:
                raise _Refused(error) from error
            raise explain(error, _where(channel)) from error
        except TRANSIENT_ERRORS as error:
            raise unreachable(error) from error
        finally:
            for opened in files:
                opened.close()

    async def _finish(self, message: discord.Message, task: TaskRecord) -> None:
        """Link the message to its task, then add the rerun reaction (once).

        Linked first: a member's 🔁 may come while the bot's own reaction waits for its rate
        limit bucket (one reaction per 250 ms in a channel), and must find the task.
        """
        await self._store.link_message(message.id, task.id, "result")
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


async def _open_extra(extra: ExtraFile) -> discord.File | None:
    """A file posted beside the result (an extension's joined chain), if it can be read."""
    try:
        return await asyncio.to_thread(
            discord.File, extra.path, filename=extra.filename, description=extra.description
        )
    except OSError:
        log.warning("could not open %s to post it beside a result", extra.path.name)
        return None


def _with_lines(content: str, lines: str) -> str:
    """The result's text and the extras' lines, when both fit in one message."""
    if not lines:
        return content
    joined = f"{content}\n{lines}"
    return joined if len(joined) <= CONTENT_MAX_CHARS else content


def _replies_to_status_or_nothing(message: discord.Message, task: TaskRecord) -> bool:
    """A reply to another status message is another task's result (a reset database reuses
    task numbers; status message ids are unique)."""
    reference = message.reference
    if reference is None or reference.message_id is None or task.status_message_id is None:
        return True
    return reference.message_id == task.status_message_id


def _where(channel: PostChannel | discord.DMChannel) -> str:
    return N_("a direct message") if isinstance(channel, discord.DMChannel) else f"#{channel.name}"


def _rights_in(channel: PostChannel) -> ChannelRights | None:
    """The bot's permissions in the channel as the cache has them (None if it doesn't)."""
    me = channel.guild.me
    return None if me is None else channel_rights(channel.permissions_for(me), channel)

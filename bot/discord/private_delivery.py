"""The last ways a finished video reaches its member when the channel refuses it: privately
through the command's interaction token while it lives (only the member sees it, no channel
permission is used), else in a direct message, looked for first so it is sent once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import discord

from bot.discord.uploads import (
    NO_MENTIONS,
    PRIVATE_UPLOAD_LIMIT,
    TRANSIENT_ERRORS,
    UPLOAD_TOO_LARGE,
    explain,
    open_video,
    unreachable,
)
from bot.domain.delivery import DeliveryError, Form, ResultFile, choose_form, delivery_nonce
from bot.domain.i18n import N_
from bot.domain.lifecycle import TaskState
from bot.domain.records import InteractionToken, TaskRecord
from bot.features.render_result import private_result_text
from bot.store import TaskStore

log = logging.getLogger(__name__)

_TOKEN_ATTEMPT = "posting in private through the command's token"
# Looks for an earlier post of the task among the bot's messages in a channel (or DM).
FindEarlier = Callable[[discord.DMChannel, TaskRecord], Awaitable[discord.Message | None]]


class PrivateDelivery:
    """A task's result to its member in private, once."""

    def __init__(
        self,
        client: discord.Client,
        store: TaskStore,
        clock: Callable[[], datetime],
        find_earlier: FindEarlier,
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._find_earlier = find_earlier

    async def to_member(
        self, task: TaskRecord, user_id: int, result: ResultFile, channel_problem: str
    ) -> None:
        """The result privately: a followup through the command's token while it lives (the
        member sees it where they asked), else a direct message."""
        token = await self._store.interaction_token(task.id)
        if token is not None and token.is_alive(self._clock()):
            if await self._token_tried(task):
                # It may have been sent before a crash: a followup can't be looked for, a
                # direct message can. Twice in two places beats never.
                log.info("followup tried before %s; sending a direct message", task.log_context)
            else:
                try:
                    await self._followup(token, task, result, channel_problem)
                    return
                except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
                    # Never the token, nor discord.py's text of the request: the error's name.
                    log.warning("followup failed %s (%s)", task.log_context, type(error).__name__)
        await self._direct_message(task, user_id, result, channel_problem)

    async def _token_tried(self, task: TaskRecord) -> bool:
        events = await self._store.task_events(task.id)
        return any(event.detail == _TOKEN_ATTEMPT for event in events)

    async def _followup(
        self, token: InteractionToken, task: TaskRecord, result: ResultFile, channel_problem: str
    ) -> None:
        """An ephemeral followup: only the member sees it, and no channel permission is used."""
        guild = self._client.get_guild(task.guild_id) if task.guild_id is not None else None
        limit = guild.filesize_limit if guild is not None else PRIVATE_UPLOAD_LIMIT
        # Written before the send: after a crash, the next attempt knows it may have landed.
        await self._store.transition(
            task.id,
            TaskState.DELIVERING,
            now=self._clock(),
            expect=TaskState.DELIVERING,
            detail=_TOKEN_ATTEMPT,
        )
        data: dict[str, Any] = {"id": token.application_id, "type": 3, "token": token.token}
        # How discord.py builds `Interaction.followup`; the state is the client's own.
        webhook = discord.Webhook.from_state(data=data, state=self._client._connection)  # type: ignore[arg-type]

        async def send(form: Form) -> None:
            file = await open_video(task, result) if form is Form.FILE else None
            text = private_result_text(
                task,
                Form.FILE if file is not None else Form.LINK,
                result.size_bytes,
                limit,
                url=result.url,
                channel_problem=channel_problem,
            )
            try:
                if file is None:
                    await webhook.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
                else:
                    await webhook.send(
                        text, file=file, ephemeral=True, allowed_mentions=NO_MENTIONS
                    )
            finally:
                if file is not None:
                    file.close()

        form = choose_form(result, limit)
        try:
            await send(form)
        except discord.HTTPException as error:
            if form is Form.FILE and (error.status == 413 or error.code == UPLOAD_TOO_LARGE):
                await send(Form.LINK)
                return
            raise
        log.info("delivered through the command's token %s", task.log_context)

    async def _direct_message(
        self, task: TaskRecord, user_id: int, result: ResultFile, channel_problem: str
    ) -> None:
        """The result in a direct message (once: an earlier one is looked for first)."""
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            dm = user.dm_channel or await user.create_dm()
        except discord.NotFound as error:
            raise DeliveryError(
                N_("{problem}, and the member's account is gone").format(problem=channel_problem),
                permanent=True,
            ) from error
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            raise DeliveryError(
                N_("Discord could not open a direct message ({error})").format(
                    error=type(error).__name__
                ),
                permanent=False,
            ) from error
        if await self._find_earlier(dm, task) is not None:
            log.info("already sent in a direct message %s", task.log_context)
            return
        form = choose_form(result, PRIVATE_UPLOAD_LIMIT)
        for attempt in (form, Form.LINK) if form is Form.FILE else (Form.LINK,):
            file = await open_video(task, result) if attempt is Form.FILE else None
            text = private_result_text(
                task,
                Form.FILE if file is not None else Form.LINK,
                result.size_bytes,
                PRIVATE_UPLOAD_LIMIT,
                url=result.url,
                channel_problem=channel_problem,
            )
            optional: dict[str, Any] = {} if file is None else {"file": file}
            try:
                await dm.send(
                    text,
                    nonce=delivery_nonce(task.external_id),
                    allowed_mentions=NO_MENTIONS,
                    **optional,
                )
                log.info("delivered in a direct message %s", task.log_context)
                return
            except discord.HTTPException as error:
                too_large = error.status == 413 or error.code == UPLOAD_TOO_LARGE
                if attempt is Form.FILE and too_large:
                    continue
                if error.status == 403:
                    raise DeliveryError(
                        N_("{problem}, and the member takes no direct messages").format(
                            problem=channel_problem
                        ),
                        permanent=True,
                    ) from error
                raise explain(error, N_("a direct message")) from error
            except TRANSIENT_ERRORS as error:
                raise unreachable(error) from error
            finally:
                if file is not None:
                    file.close()
        raise DeliveryError(
            N_("{problem}, and no direct message was taken").format(problem=channel_problem),
            permanent=True,
        )

"""The `/video` use case: a member's options → a validated request → a charged, queued task.

Knows nothing about discord.py: the cog hands in plain data (`Requester`, `VideoOptions`) and gets
a `Ticket` back, or a `KlingBotError` whose sentence the member reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.errors import InvalidInput, QuotaExceeded
from bot.domain.i18n import N_, _, ngettext, option_name
from bot.domain.records import InteractionToken, NewTask, ParentKind, QuotaTerms, TaskRecord
from bot.domain.request import OmniRequest
from bot.engine.task_engine import TaskEngine, utc_now
from bot.features.clip_hosting import ClipHosting
from bot.features.elements import ElementLibrary
from bot.features.media import AttachmentInfo, MediaStore
from bot.features.requests import (
    Requester,
    StoryboardOptions,
    VideoOptions,
    build_storyboard_request,
    build_video_request,
    vary_request,
)
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class Ticket:
    """A task the bot accepted (queued, and held until `release`)."""

    task: TaskRecord


class GenerationService:
    """Accepts video requests from members: validate, price, charge, queue."""

    def __init__(
        self,
        engine: TaskEngine,
        settings: Settings,
        media: MediaStore,
        hosting: ClipHosting | None = None,
        *,
        elements: ElementLibrary | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._elements = elements
        self._media = media
        self._hosting = hosting
        self._store = engine.store
        self._settings = settings
        self._clock = clock

    async def request_video(
        self, who: Requester, options: VideoOptions, *, edited_from: int | None = None
    ) -> Ticket:
        """Queue a video, held until `release(ticket)`; a refusal charges nothing."""
        options = replace(options, elements=await self._element_ids(who, options.elements))
        request = build_video_request(
            options, self._settings.omni, max_clip_bytes=self._media.max_clip_bytes
        )
        if edited_from is None:
            return await self.queue(who, request, held=True)
        return await self.queue(who, request, held=True, parent=(edited_from, "edit"))

    async def request_variation(self, who: Requester, parent: TaskRecord, text: str) -> Ticket:
        """Queue a variation of a result (its request with a new prompt), held until released."""
        request = vary_request(parent.request, text)
        return await self.queue(who, request, held=True, parent=(parent.id, "variation"))

    async def result_task_id(self, guild_id: int, message_id: int) -> int | None:
        """The task whose delivered result is this message, if it is one of the bot's results."""
        task = await self._store.task_for_message(message_id, kind="result")
        return task.id if task is not None and task.guild_id == guild_id else None

    async def request_storyboard(self, who: Requester, options: StoryboardOptions) -> Ticket:
        """Queue a storyboard, held until `release(ticket)`; a refusal charges nothing."""
        options = replace(options, elements=await self._element_ids(who, options.elements))
        request = build_storyboard_request(options, self._settings.omni)
        return await self.queue(who, request, held=True)

    async def _element_ids(self, who: Requester, elements: str | None) -> str | None:
        """`elements` with the server's library names turned into IDs."""
        if self._elements is None:
            return elements
        return await self._elements.resolve(who.guild_id, elements)

    async def queue(
        self,
        who: Requester,
        request: OmniRequest,
        *,
        rerun_of: int | None = None,
        held: bool = False,
        parent: tuple[int, ParentKind] | None = None,
    ) -> Ticket:
        """Price the request, check the member's quota and caps atomically, and queue it."""
        if rerun_of is not None:
            await self._check_inputs_kept(request, rerun_of)
        quotas = self._settings.quotas
        cost = quotas.cost.credits_for(
            request.mode, request.duration_s or self._settings.omni.duration
        )
        # The limit itself is resolved in the transaction that charges, from the overrides as
        # they are then: a `/quota set … 0` that lands while this command runs is honoured.
        terms = QuotaTerms(
            config_limit=None if quotas.default_limit == "unlimited" else quotas.default_limit,
            config_window=quotas.window,
            role_ids=who.role_ids,
            max_in_flight_per_member=quotas.max_in_flight_per_member,
            max_in_flight_per_server=quotas.max_in_flight_per_server,
            config_server_limit=None if quotas.server_limit == "unlimited" else quotas.server_limit,
        )
        new = NewTask(
            origin="rerun" if rerun_of is not None else "discord",
            request=request,
            cost=cost,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            user_id=who.user_id,
            rerun_of=rerun_of,
            user_name=who.name,
            parent_id=None if parent is None else parent[0],
            parent_kind=None if parent is None else parent[1],
        )
        try:
            task = await self._engine.enqueue(new, quota=terms, held=held)
        except QuotaExceeded:
            self._engine.telemetry.quota_refused()
            raise
        # The place in line is not computed here, on the acknowledgement path: it reads the whole
        # queue. The status message shows it after the next positions pass, paced per channel.
        return Ticket(task)

    async def _check_inputs_kept(self, request: OmniRequest, task_id: int) -> None:
        """Refuse, before any charge, a rerun whose kept images were removed (retention)."""
        missing = await self._media.missing_images(request)
        if not missing:
            return
        days = self._settings.storage.keep_media_days
        which = ", ".join(f"`{option_name(slot)}`" for slot in missing)
        raise InvalidInput(
            ngettext(
                "Task #{id} can't be made again: the bot keeps members' images for {days} days "
                "and {which} was removed. Start a new `/video` with the images attached.",
                "Task #{id} can't be made again: the bot keeps members' images for {days} days "
                "and {which} were removed. Start a new `/video` with the images attached.",
                len(missing),
            ).format(id=task_id, days=days, which=which)
        )

    async def release(
        self,
        ticket: Ticket,
        *,
        status_message_id: int | None = None,
        reply_token: InteractionToken | None = None,
    ) -> None:
        """The member has been told (by `status_message_id`, remembered now) and the inputs are
        kept: the task may go to the API.

        The one place a ticket's hold ends; until then a restart withdraws the task.
        `reply_token` (the command's, a secret) lets the result reach the member privately
        while it lives, should the bot lose the right to post in the channel meanwhile.
        """
        if reply_token is not None:
            await self._store.save_interaction_token(ticket.task.id, reply_token)
        await self._engine.release(ticket.task.id, status_message_id=status_message_id)

    async def withdraw(self, task_id: int, reason: str = "") -> bool:
        """Undo a task that may not go ahead (Discord refused our answer, an input was bad);
        its credits are refunded and its kept inputs forgotten."""
        # Kept in English with the task; shown in the reader's language (`translated`).
        reason = reason or N_(
            "Discord did not accept the bot's answer in time, so the task was withdrawn."
        )
        return await self._engine.withdraw(task_id, reason)

    async def keep_inputs(self, ticket: Ticket, attachments: tuple[AttachmentInfo, ...]) -> None:
        """Download the member's inputs into our storage and point the task at the copies.

        Raises InvalidInput when an input turns out unusable; the caller withdraws the task.
        """
        if not attachments:
            return
        task = ticket.task
        kept = {info.url: await self._media.keep(task.id, info) for info in attachments}
        images = tuple(
            image.model_copy(update={"url": kept.get(image.url, image.url)})
            for image in task.request.images
        )
        videos = tuple(
            video.model_copy(update={"url": kept.get(video.url, video.url)})
            for video in task.request.videos
        )
        request = task.request.model_copy(update={"images": images, "videos": videos})
        await self._store.replace_request(
            task.id, request, now=self._clock(), detail=f"kept {len(kept)} input(s)"
        )
        for before, after in zip(task.request.videos, videos, strict=True):
            if after.url != before.url:
                # Kling fetches clips by URL: lend our copy to Discord on the task's own message.
                if self._hosting is None:
                    raise InvalidInput(_("This bot is not set up to take clips."))
                await self._hosting.lend(task.id, after.url)

    async def attach_status_message(
        self, task_id: int, message_id: int, reply_token: InteractionToken | None = None
    ) -> None:
        """Remember the message that shows the task's status, and bring it up to date.

        `reply_token` (the command's, a secret) lets the result reach the member privately
        while it lives, should the bot lose the right to post in the channel meanwhile.
        """
        await self._store.set_status_message(task_id, message_id)
        if reply_token is not None:
            await self._store.save_interaction_token(task_id, reply_token)
        await self._engine.notify(task_id)

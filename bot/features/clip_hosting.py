"""Keeping a member's clip fetchable by the Omni API, today and for a rerun weeks later.

The API takes a video only as a URL it fetches itself (base64 is documented for images only), and a
member's upload lives on Discord's CDN behind a signed URL that expires in about a day (a
slash-command upload is removed altogether after a while). The bot runs no public web host, so it
lends the clip to Discord: once the clip is checked, the bot attaches its own copy to the task's
status message (members see what is being edited). A message's attachments stay as long as the
message, and fetching the message signs a fresh URL. So whenever a task goes to the API, the bot
re-reads the message that holds the clip and sends the freshly signed URL. If that message was
deleted, the bot attaches its kept copy (under `storage.media_dir`) to the new task's status message
and sends that URL instead.

A result continued with ▶ Extend is such a clip too (`media:results/task-<id>.mp4`): it is on
Discord already, attached to its result message, which serves as the place the API fetches it
from; only if that message is gone is the kept copy lent on the new task's status message.

The Discord side is a `ClipHost` (`discord_clips.py`); this module decides, it does not talk.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.delivery import result_filename
from bot.domain.errors import InvalidInput, TaskNotFound
from bot.domain.i18n import N_, _
from bot.domain.records import TaskRecord
from bot.domain.request import OmniRequest, VideoInput
from bot.features.media import MEDIA_REF, MediaStore
from bot.store import TaskStore

log = logging.getLogger(__name__)

_OWNER = re.compile(r"^inputs/(\d+)/")
_RESULT = re.compile(r"^results/task-(\d+)\.mp4$")


@dataclass(frozen=True, slots=True)
class ClipPlace:
    """A message of the bot's that holds (or will hold) a clip as an attachment."""

    guild_id: int | None
    channel_id: int
    message_id: int


class ClipHost(Protocol):
    """Where clips are lent out: Discord, in the bot; a fake in tests."""

    async def put(self, place: ClipPlace, path: Path, filename: str) -> None:
        """Attach the file to the bot's message at `place`."""

    async def url(self, place: ClipPlace, filename: str) -> str | None:
        """A freshly signed URL of the attachment `filename` there; None if it is gone."""


def result_reference(task_id: int) -> str:
    """A task's downloaded result, as a request refers to it when it continues it."""
    return f"{MEDIA_REF}results/task-{task_id}.mp4"


def result_owner(reference: str) -> int | None:
    """The task whose result the reference is (`media:results/task-<id>.mp4`), if it is one."""
    match = _RESULT.match(reference.removeprefix(MEDIA_REF))
    return int(match.group(1)) if match else None


def clip_filename(reference: str) -> str:
    """The name a kept clip carries on Discord: one per original task, whatever reruns it (a
    result's: the name its result message gives it)."""
    result = result_owner(reference)
    if result is not None:
        return result_filename(result)
    relative = reference.removeprefix(MEDIA_REF)
    match = _OWNER.match(relative)
    owner = match.group(1) if match else "0"
    suffix = Path(relative).suffix or ".mp4"
    return f"kling-clip-{owner}{suffix}"


def owner_of(reference: str) -> int | None:
    """The task the kept clip was attached to first (`media:inputs/<task>/video.mp4`)."""
    match = _OWNER.match(reference.removeprefix(MEDIA_REF))
    return int(match.group(1)) if match else None


def place_of(task: TaskRecord) -> ClipPlace | None:
    """The task's status message, if it has one."""
    if task.channel_id is None or task.status_message_id is None:
        return None
    return ClipPlace(task.guild_id, task.channel_id, task.status_message_id)


def result_place_of(task: TaskRecord) -> ClipPlace | None:
    """The task's result message, if it was posted in a channel and is still there."""
    if task.channel_id is None or task.delivery_message_id is None:
        return None
    if task.result_deleted_by is not None:
        return None
    return ClipPlace(task.guild_id, task.channel_id, task.delivery_message_id)


# Kept in English with the task when its submission fails; shown translated (`translated`).
GONE = N_(
    "The clip kept for this task is no longer available to the bot, so it could not be sent. "
    "Attach it again with `/video video:`."
)


class ClipHosting:
    """Lends kept clips to Discord and finds a URL of them that works now."""

    def __init__(self, store: TaskStore, media: MediaStore, host: ClipHost) -> None:
        self._store = store
        self._media = media
        self._host = host

    async def lend(self, task_id: int, reference: str) -> None:
        """Attach a freshly kept clip to its task's status message (members see it there)."""
        task = await self._store.get_task(task_id)
        place = place_of(task)
        if place is None:
            raise InvalidInput(
                _(
                    "The bot could not show your clip on the task's message, so the task was "
                    "withdrawn. Try again."
                )
            )
        await self._host.put(place, self._media.path_of(reference), clip_filename(reference))

    async def fetchable_url(self, task: TaskRecord, reference: str) -> str:
        """A URL of the clip the API can fetch now: re-signed, or re-lent from the kept copy."""
        filename = clip_filename(reference)
        for candidate in await self._places(task, reference):
            url = await self._host.url(candidate, filename)
            if url is not None:
                return url
        place = place_of(task)
        path = self._media.path_of(reference)
        if place is None or not await asyncio.to_thread(path.is_file):
            raise InvalidInput(GONE)
        log.info("clip re-lent %s reference=%s", task.log_context, reference)
        await self._host.put(place, path, filename)
        url = await self._host.url(place, filename)
        if url is None:
            raise InvalidInput(GONE)
        return url

    async def _places(self, task: TaskRecord, reference: str) -> list[ClipPlace]:
        """Where the clip may be: the first task's status message (a result's: its result
        message), then this task's own."""
        places: list[ClipPlace] = []
        result_of = result_owner(reference)
        owner_id = owner_of(reference) if result_of is None else result_of
        if owner_id is not None and owner_id != task.id:
            try:
                owner = await self._store.get_task(owner_id)
            except TaskNotFound:
                owner = None
            first = None
            if owner is not None:
                first = place_of(owner) if result_of is None else result_place_of(owner)
            if first is not None:
                places.append(first)
        own = place_of(task)
        if own is not None:
            places.append(own)
        return places


class InputPreparer:
    """Turns a stored request into what the API takes: images inlined, the clip as a live URL."""

    def __init__(self, media: MediaStore, hosting: ClipHosting | None) -> None:
        self._media = media
        self._hosting = hosting

    async def prepare(self, task: TaskRecord) -> OmniRequest:
        """The request to send for this task (raises InvalidInput when an input is gone)."""
        request = await self._media.resolve(task.request)
        kept = [v for v in request.videos if v.url.startswith(MEDIA_REF)]
        if not kept:
            return request
        if self._hosting is None:
            raise InvalidInput(GONE)
        videos: list[VideoInput] = []
        for video in request.videos:
            if video.url.startswith(MEDIA_REF):
                url = await self._hosting.fetchable_url(task, video.url)
                video = video.model_copy(update={"url": url})
            videos.append(video)
        return request.model_copy(update={"videos": tuple(videos)})

"""The `/video` use case: a member's options → a validated request → a charged, queued task.

Knows nothing about discord.py: the cog hands in plain data (`Requester`, `VideoOptions`) and gets
a `Ticket` back, or a `KlingBotError` whose sentence the member reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.engine import TaskEngine, utc_now
from bot.errors import InvalidInput
from bot.media import AttachmentInfo, MediaStore, check_image
from bot.models import OmniRequest, make_request
from bot.quota import quota_check, resolve_limit
from bot.records import NewTask, TaskRecord
from bot.settings import OmniSettings, Settings
from bot.storyboard import EXAMPLE as SHOTS_EXAMPLE
from bot.storyboard import parse_shots

_ELEMENT_ID = re.compile(r"^\d{1,19}$")
MAX_ELEMENTS = 7


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, and where: what the bot needs to know about a member."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """The `/video` options exactly as the member gave them; None means "not given"."""

    prompt: str
    mode: str | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    model: str | None = None
    sound: bool | None = None
    elements: str | None = None
    watermark: bool | None = None
    attachments: tuple[AttachmentInfo, ...] = ()  # image_1 … image_4, first_frame, end_frame


@dataclass(frozen=True, slots=True)
class StoryboardOptions:
    """The `/storyboard` options as the member gave them; None means "not given"."""

    shots: str | None = None
    prompt: str | None = None
    duration: int | None = None
    mode: str | None = None
    aspect_ratio: str | None = None
    sound: bool | None = None
    elements: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()  # image_1 … image_3


@dataclass(frozen=True, slots=True)
class Ticket:
    """A task the bot accepted (queued, and held until `release`)."""

    task: TaskRecord


def parse_elements(text: str | None) -> list[dict[str, int]]:
    """`"123, 456"` → element items; a clear refusal for anything that is not a list of ids."""
    if text is None or not text.strip():
        return []
    items = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    for item in items:
        if not _ELEMENT_ID.match(item):
            raise InvalidInput(
                f"`elements` must be Kling element IDs separated by commas, like 123456, 789012: "
                f"{item[:40]!r} is not an ID."
            )
    if len(items) > MAX_ELEMENTS:
        raise InvalidInput(
            f"`elements` can list at most {MAX_ELEMENTS} IDs; {len(items)} were given."
        )
    return [{"element_id": int(item)} for item in items]


IMAGE_SLOTS = ("image_1", "image_2", "image_3", "image_4")
FRAME_SLOTS = ("first_frame", "end_frame")


def image_fields(attachments: tuple[AttachmentInfo, ...]) -> list[dict[str, str]]:
    """Reference images in slot order (`<<<image_N>>>` is image_N), then the frames."""
    by_slot = {info.slot: info for info in attachments}
    for info in attachments:
        check_image(info)
    given = [slot for slot in IMAGE_SLOTS if slot in by_slot]
    highest = IMAGE_SLOTS.index(given[-1]) if given else -1
    missing = [slot for slot in IMAGE_SLOTS[: highest + 1] if slot not in by_slot]
    if missing:
        raise InvalidInput(
            f"Attach `{missing[0]}` before the later images: `<<<image_N>>>` in the prompt means "
            "the Nth of image_1 … image_4."
        )
    fields = [{"url": by_slot[slot].url} for slot in given]
    fields += [{"url": by_slot[slot].url, "frame": slot} for slot in FRAME_SLOTS if slot in by_slot]
    return fields


def build_video_request(options: VideoOptions, defaults: OmniSettings) -> OmniRequest:
    """Fill what the member left out from the config, then validate every rule once."""
    images = image_fields(options.attachments)
    frame_is_fixed = any(f.get("frame") == "first_frame" for f in images)
    # The config's default shape is not sent when a first frame sets it; the member's own
    # choice is, so that the model's rule explains why it can't be combined.
    default_ratio = None if frame_is_fixed else defaults.aspect_ratio
    fields: dict[str, Any] = {
        "model": options.model or defaults.model,
        "prompt": options.prompt,
        "mode": options.mode or defaults.mode,
        "aspect_ratio": options.aspect_ratio or default_ratio,
        "duration_s": options.duration if options.duration is not None else defaults.duration,
        "sound": bool(options.sound),
        "images": images,
        "elements": parse_elements(options.elements),
        "watermark": bool(options.watermark),
    }
    return make_request(fields)


STORYBOARD_MODEL = "kling-v3-omni"  # the only model that makes multi-shot videos (§1.4)


def build_storyboard_request(options: StoryboardOptions, defaults: OmniSettings) -> OmniRequest:
    """Your own shots (customize) or a prompt Kling splits into shots (intelligence)."""
    has_shots = bool(options.shots and options.shots.strip())
    has_prompt = bool(options.prompt and options.prompt.strip())
    if has_shots and has_prompt:
        raise InvalidInput(
            "Give either `shots` (your own shots) or `prompt` (Kling plans the shots), not both."
        )
    if not has_shots and not has_prompt:
        raise InvalidInput(
            f"Give `shots`, like {SHOTS_EXAMPLE}, or a `prompt` to let Kling plan them."
        )
    fields: dict[str, Any] = {
        "model": STORYBOARD_MODEL,
        "multi_shot": True,
        "mode": options.mode or defaults.mode,
        "aspect_ratio": options.aspect_ratio or defaults.aspect_ratio,
        "sound": bool(options.sound),
        "images": image_fields(options.attachments),
        "elements": parse_elements(options.elements),
    }
    if has_shots:
        shots = parse_shots(options.shots or "")
        total = sum(seconds for seconds, _ in shots)
        fields.update(
            shot_type="customize",
            prompt="",
            shots=[{"prompt": text, "duration_s": seconds} for seconds, text in shots],
            duration_s=options.duration if options.duration is not None else total,
        )
    else:
        fields.update(
            shot_type="intelligence",
            prompt=options.prompt,
            duration_s=options.duration if options.duration is not None else defaults.duration,
        )
    return make_request(fields)


class GenerationService:
    """Accepts video requests from members: validate, price, charge, queue."""

    def __init__(
        self,
        engine: TaskEngine,
        settings: Settings,
        media: MediaStore,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._media = media
        self._store = engine.store
        self._settings = settings
        self._clock = clock

    async def request_video(self, who: Requester, options: VideoOptions) -> Ticket:
        """Queue a video, held until `release(ticket)`; a refusal charges nothing."""
        request = build_video_request(options, self._settings.omni)
        return await self.queue(who, request, held=True)

    async def request_storyboard(self, who: Requester, options: StoryboardOptions) -> Ticket:
        """Queue a storyboard, held until `release(ticket)`; a refusal charges nothing."""
        request = build_storyboard_request(options, self._settings.omni)
        return await self.queue(who, request, held=True)

    async def queue(
        self,
        who: Requester,
        request: OmniRequest,
        *,
        rerun_of: int | None = None,
        held: bool = False,
    ) -> Ticket:
        """Price the request, check the member's quota and caps atomically, and queue it."""
        quotas = self._settings.quotas
        cost = quotas.cost.credits_for(
            request.mode, request.duration_s or self._settings.omni.duration
        )
        guild = await self._store.get_guild_settings(who.guild_id)
        overrides = await self._store.list_overrides(who.guild_id)
        config_limit = None if quotas.default_limit == "unlimited" else quotas.default_limit
        resolved = resolve_limit(
            config_limit=config_limit,
            config_window=quotas.window,
            guild=guild,
            overrides=overrides,
            user_id=who.user_id,
            role_ids=who.role_ids,
        )
        check = quota_check(
            resolved,
            self._clock(),
            max_in_flight_per_member=quotas.max_in_flight_per_member,
            max_in_flight_per_server=quotas.max_in_flight_per_server,
        )
        new = NewTask(
            origin="rerun" if rerun_of is not None else "discord",
            request=request,
            cost=cost,
            guild_id=who.guild_id,
            channel_id=who.channel_id,
            user_id=who.user_id,
            rerun_of=rerun_of,
        )
        task = await self._engine.enqueue(new, quota=check, held=held)
        # The place in line is not computed here, on the acknowledgement path: it reads the whole
        # queue. The status message shows it after the next positions pass, paced per channel.
        return Ticket(task)

    async def release(self, ticket: Ticket, *, status_message_id: int | None = None) -> None:
        """The member has been told (by `status_message_id`, remembered now) and the inputs are
        kept: the task may go to the API.

        The one place a ticket's hold ends; until then a restart withdraws the task.
        """
        await self._engine.release(ticket.task.id, status_message_id=status_message_id)

    async def withdraw(self, task_id: int, reason: str = "") -> bool:
        """Undo a task that may not go ahead (Discord refused our answer, an input was bad);
        its credits are refunded and its kept inputs forgotten."""
        reason = (
            reason or "Discord did not accept the bot's answer in time, so the task was withdrawn."
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
        request = task.request.model_copy(update={"images": images})
        await self._store.replace_request(
            task.id, request, now=self._clock(), detail=f"kept {len(kept)} input(s)"
        )

    async def attach_status_message(self, task_id: int, message_id: int) -> None:
        """Remember the message that shows the task's status, and bring it up to date."""
        await self._store.set_status_message(task_id, message_id)
        await self._engine.notify(task_id)

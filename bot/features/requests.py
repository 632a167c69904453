"""A member's options → a validated `OmniRequest`: pure builders, before anything is charged.

The cogs hand in plain data (`Requester`, `VideoOptions`, `StoryboardOptions`); the config fills
what the member left out; every rule is checked once, by `bot.domain.request`; a refusal is an
`InvalidInput` whose sentence says what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _, option_name
from bot.domain.request import OmniRequest, Shot, first_problem, make_request
from bot.domain.storyboard import EXAMPLE as SHOTS_EXAMPLE
from bot.domain.storyboard import parse_shots, shots_from_lines
from bot.features.clips import KLING_CLIP_LIMIT, check_clip_metadata
from bot.features.media import VIDEO_SLOT, AttachmentInfo, check_image
from bot.settings import OmniSettings

_ELEMENT_ID = re.compile(r"[0-9]+")  # ASCII only: \d takes Arabic-Indic digits; range: models
MAX_ELEMENTS = 7
# A clip over the bot's configured cap, or over what the bot may upload where it was attached.
_BOT_CLIP_LIMIT = N_(
    "`{slot}` is {size}; the bot is set to take clips of at most {most}. Trim or compress the clip."
)
_UPLOAD_CLIP_LIMIT = N_(
    "`{slot}` is {size}; the bot re-posts your clip on the task's message so that Kling can "
    "fetch it, and files here may be at most {most}. Trim or compress the clip."
)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, and where: what the bot needs to know about a member."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: tuple[int, ...] = ()
    name: str | None = None  # as Discord shows it, for the operator's `kling-bot tasks`


@dataclass(frozen=True, slots=True, kw_only=True)
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
    attachments: tuple[AttachmentInfo, ...] = ()  # image_1 … image_4, first_frame, end_frame, video
    video_use: str | None = None  # "edit" (refer_type base) or "reference" (feature)
    keep_sound: bool | None = None
    upload_limit_bytes: int | None = None  # what the bot may upload where the command was typed
    loop: bool | None = None  # end on the first frame again, so the video loops


@dataclass(frozen=True, slots=True, kw_only=True)
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


def parse_elements(text: str | None) -> list[dict[str, str]]:
    """`"123, 456"` → element items; a clear refusal for anything that is not a list of ids."""
    if text is None or not text.strip():
        return []
    items = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    for item in items:
        if not _ELEMENT_ID.fullmatch(item):
            raise InvalidInput(
                _(
                    "`elements` must be Kling element IDs separated by commas, like 123456, "
                    "789012: {item} is not an ID."
                ).format(item=repr(item[:40]))
            )
    if len(items) > MAX_ELEMENTS:
        raise InvalidInput(
            _("`elements` can list at most {most} IDs; {count} were given.").format(
                most=MAX_ELEMENTS, count=len(items)
            )
        )
    return [{"element_id": item} for item in items]


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
            _(
                "Attach `{slot}` before the later images: `<<<image_N>>>` in the prompt means "
                "the Nth of image_1 … image_4."
            ).format(slot=option_name(missing[0]))
        )
    fields = [{"url": by_slot[slot].url} for slot in given]
    fields += [{"url": by_slot[slot].url, "frame": slot} for slot in FRAME_SLOTS if slot in by_slot]
    return fields


VIDEO_USES = {"edit": "base", "reference": "feature"}  # the option's choices → refer_type


def video_fields(
    options: VideoOptions, *, max_clip_bytes: int, clip_limit_reason: str = KLING_CLIP_LIMIT
) -> list[dict[str, Any]]:
    """The member's clip, checked from Discord's metadata, as a `video_list` item."""
    clip = next((info for info in options.attachments if info.slot == VIDEO_SLOT), None)
    if clip is None:
        if options.video_use is not None or options.keep_sound is not None:
            raise InvalidInput(
                _(
                    "`video_use` and `keep_sound` apply to a clip: attach one as `video`, "
                    "or leave them out."
                )
            )
        return []
    limit, reason = max_clip_bytes, clip_limit_reason
    if options.upload_limit_bytes is not None and options.upload_limit_bytes < limit:
        limit, reason = options.upload_limit_bytes, _UPLOAD_CLIP_LIMIT
    check_clip_metadata(
        clip.slot,
        clip.filename,
        clip.size_bytes,
        clip.content_type,
        max_bytes=limit,
        why_max=reason,
    )
    use = options.video_use or "edit"
    if use not in VIDEO_USES:
        raise InvalidInput(_("`video_use` is `edit` (change the clip) or `reference` (follow it)."))
    return [
        {
            "url": clip.url,
            "refer_type": VIDEO_USES[use],
            "keep_original_sound": bool(options.keep_sound),
        }
    ]


def loop_frames(images: list[dict[str, str]]) -> list[dict[str, str]]:
    """`loop:true`: the first frame is sent again as the end frame, so the video loops."""
    first = next((image for image in images if image.get("frame") == "first_frame"), None)
    if first is None:
        raise InvalidInput(
            _(
                "`loop` needs a `first_frame`: the video returns to that picture at its end. "
                "Attach one, or leave `loop` out."
            )
        )
    if any(image.get("frame") == "end_frame" for image in images):
        raise InvalidInput(
            _(
                "`loop` ends the video on its first frame, so it can't have an `end_frame` too: "
                "drop one of them."
            )
        )
    if len(images) > 1:
        raise InvalidInput(
            _(
                "A loop can't use reference images: Kling allows an end frame with at most 2 "
                "images in all, the first frame and its copy. Drop image_1 … image_4 or `loop`."
            )
        )
    return [*images, {"url": first["url"], "frame": "end_frame"}]


def build_video_request(
    options: VideoOptions, defaults: OmniSettings, *, max_clip_bytes: int = 200_000_000
) -> OmniRequest:
    """Fill what the member left out from the config, then validate every rule once."""
    images = image_fields(tuple(a for a in options.attachments if a.slot != VIDEO_SLOT))
    if options.loop:
        images = loop_frames(images)
    videos = video_fields(
        options,
        max_clip_bytes=max_clip_bytes,
        clip_limit_reason=_BOT_CLIP_LIMIT,
    )
    frame_is_fixed = any(f.get("frame") == "first_frame" for f in images)
    is_edit = any(v["refer_type"] == "base" for v in videos)
    # The config's default shape is not sent when a first frame or an edited clip sets it (nor
    # the default length of an edit, which is the clip's); the member's own choice is, so that
    # the model's rule explains why it can't be combined.
    default_ratio = None if frame_is_fixed or is_edit else defaults.aspect_ratio
    default_duration = None if is_edit else defaults.duration
    fields: dict[str, Any] = {
        "model": options.model or defaults.model,
        "prompt": options.prompt,
        "mode": options.mode or defaults.mode,
        "aspect_ratio": options.aspect_ratio or default_ratio,
        "duration_s": options.duration if options.duration is not None else default_duration,
        "sound": bool(options.sound),
        "images": images,
        "elements": parse_elements(options.elements),
        "videos": videos,
        "watermark": bool(options.watermark),
    }
    return make_request(fields)


STORYBOARD_MODEL = "kling-v3-omni"  # the only model that makes multi-shot videos


def build_storyboard_request(options: StoryboardOptions, defaults: OmniSettings) -> OmniRequest:
    """Your own shots (customize) or a prompt Kling splits into shots (intelligence)."""
    has_shots = bool(options.shots and options.shots.strip())
    has_prompt = bool(options.prompt and options.prompt.strip())
    if has_shots and has_prompt:
        raise InvalidInput(
            _("Give either `shots` (your own shots) or `prompt` (Kling plans the shots), not both.")
        )
    if not has_shots and not has_prompt:
        raise InvalidInput(
            _("Give `shots`, like {example}, or a `prompt` to let Kling plan them.").format(
                example=SHOTS_EXAMPLE
            )
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


def vary_request(request: OmniRequest, text: str) -> OmniRequest:
    """The same request with a new prompt (or, for your own storyboard shots, new shots, one a
    line), checked by every rule again: the 🎲 Variation of a result."""
    if request.shot_type == "customize" and request.shots:
        shots = tuple(Shot(prompt=p, duration_s=s) for s, p in shots_from_lines(text))
        update: dict[str, Any] = {"shots": shots, "duration_s": sum(s.duration_s for s in shots)}
    else:
        update = {"prompt": text}
    varied = request.model_copy(update=update)
    problem = first_problem(varied)
    if problem is not None:
        raise InvalidInput(problem)
    return varied


def variation_text(request: OmniRequest) -> str:
    """What the 🎲 Variation form starts from: the prompt, or the shots one a line."""
    if request.shot_type == "customize" and request.shots:
        return "\n".join(f"{shot.duration_s}: {shot.prompt}" for shot in request.shots)
    return request.prompt

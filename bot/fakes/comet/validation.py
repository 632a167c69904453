"""Kling's create-body rules for Omni video, read straight from raw JSON.

Deliberately independent of `bot.domain.request`: property tests compare the client's model
with this second reading of the spec, so the two must not share code. A JSON `null` counts as
absent, as in Kling's Java and CometAPI's Go decoders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import (
    ASPECT_RATIOS,
    DEFAULT_DURATION,
    IMAGE_TYPES,
    KEEP_SOUND,
    MAX_PROMPT_CHARS,
    MAX_SHOT_PROMPT_CHARS,
    MAX_SHOTS,
    MODELS,
    MODES,
    O1,
    REFER_TYPES,
    SHOT_TYPES,
    SOUNDS,
    V3,
)

_PLACEHOLDER = re.compile(r"<<<(image|element|video)_([0-9]+)>>>")
_WHOLE_NUMBER = re.compile(r"[0-9]+")


class _Invalid(Exception):
    """One rule violation, rendered as Kling's `"<field>: <reason>"` message."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class _Media:
    """What the input lists amount to, for the cross-field rules."""

    images: int
    reference_images: int
    has_first_frame: bool
    has_end_frame: bool
    elements: int
    videos: int
    refer_type: str | None  # of the one video, if any


def validate_create_body(body: object) -> str | None:
    """Return None when Kling would accept this create body, else the 1201 message."""
    try:
        _check(body)
    except _Invalid as exc:
        return str(exc)
    return None


def _check(body: object) -> None:
    if not isinstance(body, dict):
        raise _Invalid("body", "must be a JSON object")
    model = _enum(body, "model_name", MODELS) or O1
    _enum(body, "mode", MODES)
    sound = _enum(body, "sound", SOUNDS) or "off"
    aspect_ratio = _enum(body, "aspect_ratio", ASPECT_RATIOS)
    _non_empty_string(body, "callback_url")
    _non_empty_string(body, "external_task_id")
    _check_watermark(body.get("watermark_info"))

    is_multi_shot = _boolean(body, "multi_shot")
    # While multi_shot is false, Kling ignores shot_type and multi_prompt entirely.
    shot_type = _multi_shot_type(body, model) if is_multi_shot else None
    is_customize = shot_type == "customize"
    prompt = _prompt(body, is_required=not is_customize)

    media = _media(body)
    _check_counts(media)
    _check_frames(media, is_multi_shot=is_multi_shot)
    if media.videos and sound != "off":
        raise _Invalid("sound", 'must be "off" when video_list is present')
    _check_aspect_ratio(media, aspect_ratio)

    total_s = _duration(body, model, media)
    shot_prompts = _multi_prompt(body.get("multi_prompt"), total_s) if is_customize else []
    if not is_customize:  # with customize, Kling ignores the main prompt
        _check_placeholders("prompt", prompt, media)
    for i, text in enumerate(shot_prompts):
        _check_placeholders(f"multi_prompt[{i}].prompt", text, media)


def _enum(body: dict[str, object], key: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise _Invalid(key, f"must be one of {', '.join(allowed)}")
    return value


def _non_empty_string(body: dict[str, object], key: str, field: str | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(field or key, "must be a string")
    if not value.strip():
        raise _Invalid(field or key, "must not be empty")
    return value


def _boolean(body: dict[str, object], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Invalid(key, "must be a boolean")
    return value


def _check_watermark(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _Invalid("watermark_info", "must be an object like {enabled: true}")
    if not isinstance(value.get("enabled"), bool):
        raise _Invalid("watermark_info.enabled", "must be a boolean")


def _multi_shot_type(body: dict[str, object], model: str) -> str:
    if model != V3:
        raise _Invalid("multi_shot", f"is only supported by {V3}")
    if body.get("shot_type") is None:
        raise _Invalid("shot_type", "is required when multi_shot is true")
    shot_type = _enum(body, "shot_type", SHOT_TYPES)
    assert shot_type is not None  # checked just above; narrows for mypy
    return shot_type


def _prompt(body: dict[str, object], *, is_required: bool) -> str:
    value = body.get("prompt")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Invalid("prompt", "must be a string")
    if len(value) > MAX_PROMPT_CHARS:
        raise _Invalid("prompt", f"must be at most {MAX_PROMPT_CHARS} characters")
    if is_required and not value.strip():
        raise _Invalid("prompt", "is required and must not be empty")
    return value


def _objects(body: dict[str, object], key: str) -> list[dict[str, object]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(key, "must be an array")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Invalid(f"{key}[{i}]", "must be an object")
    return value


def _media(body: dict[str, object]) -> _Media:
    images = _objects(body, "image_list")
    types: list[str | None] = []
    for i, image in enumerate(images):
        field = f"image_list[{i}]"
        if _non_empty_string(image, "image_url", f"{field}.image_url") is None:
            raise _Invalid(f"{field}.image_url", "is required")
        types.append(_enum_item(image, "type", IMAGE_TYPES, field))
    for frame in IMAGE_TYPES:
        if types.count(frame) > 1:
            raise _Invalid("image_list", f"at most one {frame}")

    elements = _objects(body, "element_list")
    for i, element in enumerate(elements):
        _check_element_id(element.get("element_id"), f"element_list[{i}].element_id")

    videos = _objects(body, "video_list")
    if len(videos) > 1:
        raise _Invalid("video_list", "at most 1 video")
    refer_type = None
    for video in videos:
        if _non_empty_string(video, "video_url", "video_list[0].video_url") is None:
            raise _Invalid("video_list[0].video_url", "is required")
        # Kling documents "base" as the default when refer_type is left out.
        refer_type = _enum_item(video, "refer_type", REFER_TYPES, "video_list[0]") or "base"
        _enum_item(video, "keep_original_sound", KEEP_SOUND, "video_list[0]")

    return _Media(
        images=len(images),
        reference_images=types.count(None),
        has_first_frame="first_frame" in types,
        has_end_frame="end_frame" in types,
        elements=len(elements),
        videos=len(videos),
        refer_type=refer_type,
    )


def _enum_item(
    item: dict[str, object], key: str, allowed: tuple[str, ...], field: str
) -> str | None:
    try:
        return _enum(item, key, allowed)
    except _Invalid as exc:
        raise _Invalid(f"{field}.{key}", f"must be one of {', '.join(allowed)}") from exc


def _check_element_id(value: object, field: str) -> None:
    # Kling types it as a long; some official examples send a numeric string (U9).
    if isinstance(value, bool) or value is None:
        raise _Invalid(field, "must be an integer element ID")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        number = int(value)
    else:
        raise _Invalid(field, "must be an integer element ID")
    if not 0 < number < 2**63:
        raise _Invalid(field, "must be a positive 64-bit integer")


def _check_counts(media: _Media) -> None:
    limit = 4 if media.videos else 7
    if media.images + media.elements > limit:
        context = "with a video" if media.videos else "without a video"
        raise _Invalid("image_list", f"images + elements must be at most {limit} {context}")


def _check_frames(media: _Media, *, is_multi_shot: bool) -> None:
    has_frame = media.has_first_frame or media.has_end_frame
    if media.has_end_frame and not media.has_first_frame:
        raise _Invalid("image_list", "an end_frame requires a first_frame")
    if media.has_end_frame and media.images > 2:
        raise _Invalid("image_list", "an end_frame is not supported with more than 2 images")
    if has_frame and media.refer_type == "base":
        raise _Invalid("image_list", "first_frame and end_frame cannot be used with a base video")
    if has_frame and is_multi_shot:
        raise _Invalid("image_list", "first_frame and end_frame are not supported with multi_shot")
    if media.has_first_frame and media.elements > 3:
        raise _Invalid("element_list", "at most 3 elements with a first_frame")


def _check_aspect_ratio(media: _Media, aspect_ratio: str | None) -> None:
    # The frame comes from the input in these two modes; Kling calls aspect_ratio "not supported".
    is_frame_fixed = media.has_first_frame or media.refer_type == "base"
    if is_frame_fixed and aspect_ratio is not None:
        raise _Invalid("aspect_ratio", "not supported with a first_frame or a base video")
    if not is_frame_fixed and aspect_ratio is None:
        raise _Invalid("aspect_ratio", "is required without a first_frame or a base video")


def allowed_durations(model: str, *, has_references: bool, has_feature_video: bool) -> range:
    """Seconds Kling allows when no base video is given (a base video ignores duration)."""
    if model == V3:
        return range(3, 11 if has_feature_video else 16)
    if has_references or has_feature_video:
        return range(3, 11)
    return range(5, 11, 5)  # text-only or first/end frames: "5" or "10"


def _duration(body: dict[str, object], model: str, media: _Media) -> int:
    raw = body.get("duration")
    if media.refer_type == "base":
        # Ignored: the output is as long as the input video, whatever was sent.
        return int(raw) if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw) else 0
    if raw is None:
        raw = DEFAULT_DURATION
    if not isinstance(raw, str):
        raise _Invalid("duration", 'must be a string such as "5"')
    seconds = _whole_seconds(raw, "duration")
    allowed = allowed_durations(
        model,
        has_references=media.reference_images > 0 or media.elements > 0,
        has_feature_video=media.refer_type == "feature",
    )
    if seconds not in allowed:
        if allowed.step > 1:
            choices = " or ".join(str(s) for s in allowed)
        else:
            choices = f"{allowed.start} to {allowed.stop - 1}"
        raise _Invalid("duration", f"must be {choices} seconds for {model} with these inputs")
    return seconds


def _whole_seconds(raw: str, field: str) -> int:
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise _Invalid(field, "must be a whole number of seconds as a string")
    return int(raw)


def _multi_prompt(value: object, total_s: int) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SHOTS:
        raise _Invalid("multi_prompt", f"must have 1 to {MAX_SHOTS} shots with customize")
    prompts: list[str] = []
    shots_s = 0
    for i, shot in enumerate(value):
        field = f"multi_prompt[{i}]"
        if not isinstance(shot, dict):
            raise _Invalid(field, "must be an object")
        index = shot.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise _Invalid(f"{field}.index", "must be an integer")
        text = _non_empty_string(shot, "prompt", f"{field}.prompt")
        if text is None:
            raise _Invalid(f"{field}.prompt", "is required")
        if len(text) > MAX_SHOT_PROMPT_CHARS:
            raise _Invalid(f"{field}.prompt", f"must be at most {MAX_SHOT_PROMPT_CHARS} characters")
        duration = shot.get("duration")
        if not isinstance(duration, str):
            raise _Invalid(f"{field}.duration", 'must be a string such as "2"')
        seconds = _whole_seconds(duration, f"{field}.duration")
        if seconds < 1:
            raise _Invalid(f"{field}.duration", "must be at least 1 second")
        prompts.append(text)
        shots_s += seconds
    if shots_s != total_s:
        raise _Invalid("multi_prompt", f"shot durations add up to {shots_s}, not {total_s}")
    return prompts


def _check_placeholders(field: str, text: str, media: _Media) -> None:
    counts = {"image": media.images, "element": media.elements, "video": media.videos}
    for match in _PLACEHOLDER.finditer(text):
        kind, number = match.group(1), int(match.group(2))
        if not 1 <= number <= counts[kind]:
            reason = f"{match.group(0)} refers to {kind} {number}, but there are {counts[kind]}"
            raise _Invalid(field, reason)

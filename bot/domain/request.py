"""`OmniRequest`: the one validated, frozen shape of a Kling Omni video request.

Every rule of Kling's Omni-Video API (fields, item shapes, durations) is checked here, once, at the
edge. A refusal is an `InvalidInput` whose sentence a Discord member understands and that says what
is allowed. Nothing downstream re-checks a field. The API JSON is built from this in `omni.py`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _, translated
from bot.domain.placeholders import placeholder_problem
from bot.domain.refusals import describe_validation_error
from bot.domain.wording import has_visible_text as has_visible_text  # re-exported

ModelName = Literal["kling-video-o1", "kling-v3-omni"]
Mode = Literal["std", "pro"]
AspectRatio = Literal["16:9", "9:16", "1:1"]
FrameType = Literal["first_frame", "end_frame"]
ReferType = Literal["feature", "base"]
ShotType = Literal["customize", "intelligence"]

MODEL_NAMES: tuple[ModelName, ...] = ("kling-video-o1", "kling-v3-omni")
MODES: tuple[Mode, ...] = ("std", "pro")
ASPECT_RATIOS: tuple[AspectRatio, ...] = ("16:9", "9:16", "1:1")
PROMPT_MAX_CHARS = 2500
SHOT_PROMPT_MAX_CHARS = 512
MAX_SHOTS = 6
MAX_INPUTS_WITHOUT_VIDEO = 7
MAX_INPUTS_WITH_VIDEO = 4
MAX_ELEMENTS_WITH_FIRST_FRAME = 3
MAX_IMAGES_WITH_END_FRAME = 2
ELEMENT_ID_MAX = 2**63 - 1  # a positive signed 64-bit integer: Kling's "long"

_ELEMENT_DIGITS = re.compile(r"[0-9]{1,19}")
_DATA_URL_PREFIX = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)

_FROZEN = ConfigDict(frozen=True, extra="forbid")
STORED = "stored"  # validation context flag: the request comes from the database


def load_stored_request(data: str | bytes) -> OmniRequest:
    """A request read back from the database: shapes checked, cross-field rules trusted."""
    return OmniRequest.model_validate_json(data, context={STORED: True})


class InputMode(enum.Enum):
    """How the inputs steer generation; it decides which durations the model allows."""

    TEXT = N_("text-to-video")
    FRAMES = N_("first-frame video")
    REFERENCE = N_("reference video")
    EDIT = N_("video edit")
    STORYBOARD = N_("storyboard")


class ImageInput(BaseModel):
    """An image: a URL or raw base64; `frame` pins it as the first or end frame."""

    model_config = _FROZEN
    url: Annotated[str, Field(min_length=1)]
    frame: FrameType | None = None

    @field_validator("url")
    @classmethod
    def _raw_base64(cls, value: str) -> str:
        # Kling wants raw base64: a `data:image/png;base64,` prefix makes it refuse the image.
        value = _DATA_URL_PREFIX.sub("", value.strip())
        if not value:
            raise PydanticCustomError("omni_rule", _("an image is empty"))
        return value


class ElementInput(BaseModel):
    """A Kling element already registered in the element library, by numeric id."""

    model_config = _FROZEN
    element_id: Annotated[int, Field(gt=0)]

    @field_validator("element_id", mode="before")
    @classmethod
    def _ascii_long(cls, value: object, info: ValidationInfo) -> object:
        # Kling types it as a long. Pydantic alone would take 12.0, "+5", "1_000" or
        # True, and anything past 2**63 - 1; the API takes none of them. A stored request was
        # accepted by the rules of its day: it must still load (see OmniRequest's validator).
        if isinstance(info.context, dict) and info.context.get(STORED):
            return value
        if isinstance(value, str) and _ELEMENT_DIGITS.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ELEMENT_ID_MAX:
            return value
        shown = str(value) if len(str(value)) <= 24 else str(value)[:23] + "…"
        raise PydanticCustomError(
            "omni_rule",
            _(
                "`elements`: {shown} is not a Kling element ID; an ID is a whole number from 1 "
                "to {highest}, in the digits 0-9."
            ),
            {"shown": shown, "highest": ELEMENT_ID_MAX},
        )


class VideoInput(BaseModel):
    """A video: `base` is the video to edit, `feature` a reference for style or motion."""

    model_config = _FROZEN
    url: Annotated[str, Field(min_length=1)]
    refer_type: ReferType = "base"
    keep_original_sound: bool = False


class Shot(BaseModel):
    """One shot of a storyboard: what happens and for how many seconds."""

    model_config = _FROZEN
    prompt: str
    duration_s: int


class OmniRequest(BaseModel):
    """A complete, valid request to the Kling Omni model; constructing one checks every rule."""

    model_config = _FROZEN
    model: ModelName = "kling-video-o1"
    prompt: str = ""
    mode: Mode = "std"
    aspect_ratio: AspectRatio | None = None
    duration_s: int | None = 5
    sound: bool = False
    images: tuple[ImageInput, ...] = ()
    elements: tuple[ElementInput, ...] = ()
    videos: tuple[VideoInput, ...] = ()
    multi_shot: bool = False
    shot_type: ShotType | None = None
    shots: tuple[Shot, ...] = ()
    watermark: bool = False

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> OmniRequest:
        # A stored request was valid when it was accepted; a rule tightened in a later release
        # must not make an old task unloadable (and stop the resume of everything after it).
        if isinstance(info.context, dict) and info.context.get(STORED):
            return self
        problem = first_problem(self)
        if problem is not None:
            raise PydanticCustomError("omni_rule", problem)
        return self

    @property
    def input_mode(self) -> InputMode:
        """The mode of use that Kling's duration rules depend on."""
        return input_mode_of(self)

    @property
    def base_video(self) -> VideoInput | None:
        """The video being edited, if any."""
        return next((v for v in self.videos if v.refer_type == "base"), None)

    @property
    def reference_images(self) -> tuple[ImageInput, ...]:
        """Images that are neither the first nor the end frame."""
        return tuple(i for i in self.images if i.frame is None)


def make_request(fields: Mapping[str, Any]) -> OmniRequest:
    """Build an `OmniRequest`, turning any refusal into one member-readable `InvalidInput`."""
    try:
        return OmniRequest.model_validate(dict(fields))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None


def input_mode_of(request: OmniRequest) -> InputMode:
    """Classify the request: storyboard, edit, first frame, references, or text only."""
    if request.multi_shot:
        return InputMode.STORYBOARD
    if any(v.refer_type == "base" for v in request.videos):
        return InputMode.EDIT
    if any(i.frame == "first_frame" for i in request.images):
        return InputMode.FRAMES
    if request.images or request.elements or request.videos:
        return InputMode.REFERENCE
    return InputMode.TEXT


def allowed_durations(model: ModelName, mode: InputMode, has_video: bool) -> tuple[int, ...]:
    """Seconds the model accepts for this mode of use; empty when the input video decides."""
    if mode is InputMode.EDIT:
        return ()
    if model == "kling-v3-omni":
        return tuple(range(3, 11)) if has_video else tuple(range(3, 16))
    if mode in (InputMode.TEXT, InputMode.FRAMES):
        return (5, 10)
    return tuple(range(3, 11))


def describe_durations(seconds: tuple[int, ...]) -> str:
    """`5 or 10`, or a range such as `3 to 15` for long consecutive runs."""
    if len(seconds) > 2 and seconds == tuple(range(seconds[0], seconds[-1] + 1)):
        return _("{first} to {last}").format(first=seconds[0], last=seconds[-1])
    return _(" or ").join(str(s) for s in seconds)


def first_problem(request: OmniRequest) -> str | None:
    """The first rule the request breaks, as a sentence for a member; None when it is valid."""
    for check in (_prompt, _storyboard, _counts, _frames, _sound, _aspect_ratio, _duration):
        problem = check(request)
        if problem is not None:
            return problem
    counts = {"image": len(request.images), "element": len(request.elements)}
    counts["video"] = len(request.videos)
    return placeholder_problem([request.prompt, *(s.prompt for s in request.shots)], counts)


def _prompt(r: OmniRequest) -> str | None:
    if len(r.prompt) > PROMPT_MAX_CHARS:
        return _("`prompt` is {length} characters long: the limit is {limit}. Shorten it.").format(
            length=len(r.prompt), limit=PROMPT_MAX_CHARS
        )
    prompt_ignored = r.multi_shot and r.shot_type == "customize"
    if not prompt_ignored and not r.prompt.strip():
        return _(
            "`prompt` is empty: describe the video you want (up to {limit} characters)."
        ).format(limit=PROMPT_MAX_CHARS)
    if not prompt_ignored and not has_visible_text(r.prompt):
        return _(
            "`prompt` has only invisible characters (such as zero-width spaces): describe the "
            "video you want in words (up to {limit} characters)."
        ).format(limit=PROMPT_MAX_CHARS)
    return None


def _storyboard(r: OmniRequest) -> str | None:
    if not r.multi_shot:
        if r.shot_type is not None or r.shots:
            return _("Shots only apply to a storyboard (multi-shot video).")
        return None
    if r.model != "kling-v3-omni":
        return _(
            "Storyboards (multi-shot videos) need the kling-v3-omni model, not {model}."
        ).format(model=r.model)
    if r.shot_type is None:
        return _("A storyboard needs a `shot_type`: customize (your own shots) or intelligence.")
    if any(i.frame is not None for i in r.images):
        return _("A storyboard can't use a first or end frame: drop the frame images.")
    if r.shot_type == "intelligence":
        if r.shots:
            return _("Shots are only used when you write them yourself (shot_type customize).")
        return None
    if not 1 <= len(r.shots) <= MAX_SHOTS:
        return _("A storyboard has 1 to {most} shots; this one has {count}.").format(
            most=MAX_SHOTS, count=len(r.shots)
        )
    for number, shot in enumerate(r.shots, start=1):
        if not has_visible_text(shot.prompt):
            return _("Shot {number} has no description: say what happens in it.").format(
                number=number
            )
        if len(shot.prompt) > SHOT_PROMPT_MAX_CHARS:
            return _(
                "Shot {number} is {length} characters long: the limit is {limit} per shot."
            ).format(number=number, length=len(shot.prompt), limit=SHOT_PROMPT_MAX_CHARS)
        if shot.duration_s < 1:
            return _("Shot {number} lasts {seconds} s: each shot lasts at least 1 second.").format(
                number=number, seconds=shot.duration_s
            )
    total = sum(s.duration_s for s in r.shots)
    if r.duration_s is not None and total != r.duration_s:
        return _(
            "The shots add up to {total} s but the video lasts {seconds} s: "
            "make the shot seconds add up to the duration."
        ).format(total=total, seconds=r.duration_s)
    return None


def _counts(r: OmniRequest) -> str | None:
    if len(r.videos) > 1:
        return _("Only one video can be used; {count} were given.").format(count=len(r.videos))
    limit = MAX_INPUTS_WITH_VIDEO if r.videos else MAX_INPUTS_WITHOUT_VIDEO
    used = len(r.images) + len(r.elements)
    if used > limit:
        sentence = (
            _(
                "Too many inputs: {images} images and {elements} elements. Images and "
                "elements together may be at most {limit} when a video is used."
            )
            if r.videos
            else _(
                "Too many inputs: {images} images and {elements} elements. Images and "
                "elements together may be at most {limit}."
            )
        )
        return sentence.format(images=len(r.images), elements=len(r.elements), limit=limit)
    return None


def _frames(r: OmniRequest) -> str | None:
    firsts = sum(1 for i in r.images if i.frame == "first_frame")
    ends = sum(1 for i in r.images if i.frame == "end_frame")
    if firsts > 1 or ends > 1:
        return _("Only one first frame and one end frame can be used.")
    if ends and not firsts:
        return _("An end frame needs a first frame too: add `first_frame` or drop `end_frame`.")
    if ends and len(r.images) > MAX_IMAGES_WITH_END_FRAME:
        return _(
            "An end frame can't be combined with more than {most} images in total; {count} "
            "were given. Drop the reference images or the end frame."
        ).format(most=MAX_IMAGES_WITH_END_FRAME, count=len(r.images))
    if (firsts or ends) and r.base_video is not None:
        return _(
            "First and end frames can't be used while editing a video: "
            "use the video as a reference instead, or drop the frames."
        )
    if firsts and len(r.elements) > MAX_ELEMENTS_WITH_FIRST_FRAME:
        return _(
            "With a first frame at most {most} elements can be used; {count} were given."
        ).format(most=MAX_ELEMENTS_WITH_FIRST_FRAME, count=len(r.elements))
    return None


def _sound(r: OmniRequest) -> str | None:
    if r.sound and r.videos:
        return _(
            "`sound` can't be on when a video is used: the video's own sound is kept or "
            "dropped instead (keep_sound)."
        )
    return None


def _aspect_ratio(r: OmniRequest) -> str | None:
    has_first_frame = any(i.frame == "first_frame" for i in r.images)
    if has_first_frame or r.base_video is not None:
        if r.aspect_ratio is not None:
            if has_first_frame:
                return _(
                    "`aspect_ratio` can't be set here: the frame shape comes from the first frame."
                )
            return _(
                "`aspect_ratio` can't be set here: the frame shape comes from the edited video."
            )
        return None
    if r.aspect_ratio is None:
        return _("`aspect_ratio` is required: use {ratios}.").format(
            ratios=", ".join(ASPECT_RATIOS)
        )
    return None


def _duration(r: OmniRequest) -> str | None:
    mode = input_mode_of(r)
    allowed = allowed_durations(r.model, mode, bool(r.videos))
    if not allowed:
        if r.duration_s is not None:
            return _(
                "`duration` can't be set when editing a video: the result is as long as the video."
            )
        return None
    if r.duration_s is None:
        return _("`duration` is required: use {seconds} seconds.").format(
            seconds=describe_durations(allowed)
        )
    if r.duration_s not in allowed:
        sentence = (
            _(
                "`duration` {seconds} is not allowed for {use} with a reference video on "
                "{model}: use {allowed}."
            )
            if r.videos and mode is not InputMode.EDIT
            else _("`duration` {seconds} is not allowed for {use} on {model}: use {allowed}.")
        )
        return sentence.format(
            seconds=r.duration_s,
            use=translated(mode.value),
            model=r.model,
            allowed=describe_durations(allowed),
        )
    return None

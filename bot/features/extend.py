"""▶ Extend: a result continued shot by shot (pure rules).

The result becomes the previous shot: the new task sends it as a `feature` video (the API's
`refer_type` for a clip to continue, "next shot") and its prompt asks for the shot that follows.
Each extension is its own task, charged like any other; a chain (the first video and the extensions
made one from the other) has at most `reruns.max_extensions` extensions. The result must be one
Kling takes as a clip (3 to 10 s, 720 to 2160 px a side, 24 to 60 fps), which every Kling video up
to 10 s is.
"""

from __future__ import annotations

import math
from typing import Any

from bot.domain.i18n import _, ngettext
from bot.domain.request import (
    ASPECT_RATIOS,
    PROMPT_MAX_CHARS,
    AspectRatio,
    OmniRequest,
    make_request,
)
from bot.features.clips import (
    CLIP_CODECS,
    CLIP_MAX_FPS,
    CLIP_MAX_PX,
    CLIP_MAX_S,
    CLIP_MIN_FPS,
    CLIP_MIN_PX,
    CLIP_MIN_S,
    ClipFacts,
)

# Kling's prompt, not a member's sentence: always in English.
NEXT_SHOT = "Continue <<<video_1>>> with its next shot: "
# What a member may write in ✏️ Extend…: the rest of Kling's prompt is the next-shot wording.
EXTEND_TEXT_MAX_CHARS = PROMPT_MAX_CHARS - len(NEXT_SHOT)
_SLACK_S = 0.05  # container lengths are rounded by muxers (as in clips.py)
_RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


def member_text(request: OmniRequest) -> str:
    """What was asked for, without the next-shot wording: what ▶ Extend asks for again and
    what ✏️ Extend… starts from (a storyboard's last shot)."""
    if request.shot_type == "customize" and request.shots:
        return request.shots[-1].prompt
    return request.prompt.removeprefix(NEXT_SHOT)


def next_shot_prompt(text: str) -> str:
    """Kling's prompt for the shot after the clip."""
    return NEXT_SHOT + text.strip()


def nearest_aspect_ratio(width: int, height: int) -> AspectRatio:
    """The allowed frame shape closest to the video's (as factors: 2:1 is as far from 1:1 as
    1:2 is)."""
    shape = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda ratio: abs(math.log(_RATIOS[ratio]) - shape))


def extension_seconds(parent: OmniRequest, default_s: int) -> int:
    """The next shot's length: the parent's (or the config's, for an edit), within the 3 to
    10 s Kling makes from a reference clip."""
    seconds = parent.duration_s or default_s
    return max(int(CLIP_MIN_S), min(int(CLIP_MAX_S), seconds))


def chain_refusal(extensions: int, max_extensions: int) -> str | None:
    """Why a video `extensions` extensions into its chain can't be extended again, if it can't."""
    if max_extensions <= 0:
        return _("Extending videos is turned off on this bot.")
    if extensions < max_extensions:
        return None
    return _(
        "This video already continues its first shot {times}: a chain has at most "
        "{extensions}. Start a new video with `/video`."
    ).format(
        times=ngettext("{count} time", "{count} times", extensions).format(count=extensions),
        extensions=ngettext("{count} extension", "{count} extensions", max_extensions).format(
            count=max_extensions
        ),
    )


def clip_refusal(task_id: int, facts: ClipFacts) -> str | None:
    """Why Kling would not take task #`task_id`'s video as the shot to continue, if it wouldn't."""
    if facts.codec not in CLIP_CODECS:
        return _(
            "Task #{id}'s video is encoded as {codec}; Kling continues H.264 or H.265 videos only."
        ).format(id=task_id, codec=facts.codec)
    if not CLIP_MIN_S - _SLACK_S <= facts.duration_s <= CLIP_MAX_S + _SLACK_S:
        return _(
            "Task #{id}'s video is {seconds:.1f} s long; Kling continues videos of "
            "{least:.0f} to {most:.0f} s, so it can't be extended."
        ).format(id=task_id, seconds=facts.duration_s, least=CLIP_MIN_S, most=CLIP_MAX_S)
    if not (
        CLIP_MIN_PX <= facts.width <= CLIP_MAX_PX and CLIP_MIN_PX <= facts.height <= CLIP_MAX_PX
    ):
        return _(
            "Task #{id}'s video is {width}×{height} px; Kling continues videos of "
            "{least} to {most} px a side, so it can't be extended."
        ).format(
            id=task_id, width=facts.width, height=facts.height, least=CLIP_MIN_PX, most=CLIP_MAX_PX
        )
    if not CLIP_MIN_FPS - 0.5 <= facts.fps <= CLIP_MAX_FPS + 0.5:
        return _(
            "Task #{id}'s video runs at {fps:.4g} fps; Kling continues videos of "
            "{least:.0f} to {most:.0f} fps, so it can't be extended."
        ).format(id=task_id, fps=facts.fps, least=CLIP_MIN_FPS, most=CLIP_MAX_FPS)
    return None


def text_refusal(text: str) -> str | None:
    """Why this text can't ask for the next shot, if it can't (Kling's prompt has a limit)."""
    if len(text.strip()) > EXTEND_TEXT_MAX_CHARS:
        return _(
            "The next shot's prompt is {length} characters long; with the words that ask Kling "
            "to continue the video it may have {most}. Use ✏️ Extend… to write a shorter one."
        ).format(length=len(text.strip()), most=EXTEND_TEXT_MAX_CHARS)
    return None


def extension_request(
    parent: OmniRequest,
    *,
    text: str,
    clip_reference: str,
    facts: ClipFacts,
    default_duration_s: int,
) -> OmniRequest:
    """The request for the shot after `parent`'s result: the same model, mode, reference images
    and elements; the result as the `feature` video; no frames (the clip sets the start) and no
    sound (Kling takes none with a video). Checked by every rule (InvalidInput)."""
    fields: dict[str, Any] = {
        "model": parent.model,
        "prompt": next_shot_prompt(text),
        "mode": parent.mode,
        "aspect_ratio": parent.aspect_ratio or nearest_aspect_ratio(facts.width, facts.height),
        "duration_s": extension_seconds(parent, default_duration_s),
        "sound": False,
        "images": [image for image in parent.images if image.frame is None],
        "elements": list(parent.elements),
        "videos": [{"url": clip_reference, "refer_type": "feature", "keep_original_sound": False}],
        "watermark": parent.watermark,
    }
    return make_request(fields)

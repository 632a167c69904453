"""Members' clips: what Discord says about them, what a real probe measures, what Kling allows.

The Omni API takes a video only by URL, within Kling's limits for an input clip: MP4 or MOV, 3 to
10 s, each side 720 to 2160 px, 24 to 60 fps, at most 200 MB. A clip is checked twice: from
Discord's metadata before anything is charged (`check_clip_metadata`), then, once the bot has its
own copy, with PyAV (the FFmpeg its wheel ships) off the event loop (`probe_clip` and
`check_clip_facts`). The rules are pure functions of plain data; only `probe_clip` touches a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _, option_name

CLIP_TYPES = {"mp4": "MP4", "mov": "MOV"}  # extension → what a member calls it
CLIP_CONTENT_TYPES = frozenset({"video/mp4", "video/quicktime"})
CLIP_MAX_BYTES = 200 * 1000 * 1000  # Kling takes clips of at most 200 MB
CLIP_MIN_S = 3.0
CLIP_MAX_S = 10.0
CLIP_MIN_PX = 720
CLIP_MAX_PX = 2160
CLIP_MIN_FPS = 24.0
CLIP_MAX_FPS = 60.0
CLIP_CODECS = {"h264": "H.264", "hevc": "H.265"}  # FFmpeg's decoder name → what people call it
# Container lengths are rounded by muxers; a 3 s clip may read 2.99 s. Never refuse a clip that
# is within a frame of the limit.
_LENGTH_SLACK_S = 0.05
_FPS_SLACK = 0.5
# The sentence for a clip over the size limit, by whose limit it is (`check_clip_metadata`).
KLING_CLIP_LIMIT = N_(
    "`{slot}` is {size}; Kling takes clips of at most {most}. Trim or compress the clip."
)


@dataclass(frozen=True, slots=True)
class ClipFacts:
    """What a probe measured in a clip."""

    duration_s: float
    width: int
    height: int
    fps: float
    codec: str  # FFmpeg's decoder name: h264, hevc, vp9, …
    has_audio: bool


def sizes_apart(size_bytes: int, limit_bytes: int) -> tuple[str, str]:
    """Both sizes in MB, with as many decimals as it takes for them not to read the same."""
    for decimals in range(1, 7):
        size, limit = (f"{n / 1000 / 1000:.{decimals}f} MB" for n in (size_bytes, limit_bytes))
        if size != limit:
            return size, limit
    return f"{size_bytes:,} bytes", f"{limit_bytes:,} bytes"


def check_clip_metadata(
    slot: str,
    filename: str,
    size_bytes: int,
    content_type: str | None,
    *,
    max_bytes: int,
    why_max: str = KLING_CLIP_LIMIT,
) -> None:
    """Refuse, from Discord's metadata alone, a clip the model would not take or the bot can't keep.

    `max_bytes` is the smallest of Kling's 200 MB, the bot's configured cap and what the bot may
    upload in this channel; `why_max` is the sentence (marked with `N_`) that says which.
    """
    name = option_name(slot)
    extension = Path(filename).suffix.lower().lstrip(".")
    type_ok = content_type is None or content_type.split(";")[0].strip() in CLIP_CONTENT_TYPES
    if extension not in CLIP_TYPES or not type_ok:
        raise InvalidInput(
            _(
                "`{slot}` must be an MP4 or MOV clip; {filename} is not. "
                "Convert it to MP4 (H.264) and attach it again."
            ).format(slot=name, filename=repr(filename[:80]))
        )
    limit = min(max_bytes, CLIP_MAX_BYTES)
    if size_bytes > limit:
        size, most = sizes_apart(size_bytes, limit)
        raise InvalidInput(_(why_max).format(slot=name, size=size, most=most))


def check_clip_facts(slot: str, facts: ClipFacts) -> None:
    """Refuse a clip whose measured length, size, frame rate or codec Kling does not take."""
    name = option_name(slot)
    if facts.codec not in CLIP_CODECS:
        codec = facts.codec or _("an unknown codec")
        raise InvalidInput(
            _(
                "`{slot}` is encoded as {codec}; Kling reads H.264 or H.265 video. Export the "
                "clip as MP4 (H.264) and attach it again."
            ).format(slot=name, codec=codec)
        )
    if not CLIP_MIN_S - _LENGTH_SLACK_S <= facts.duration_s <= CLIP_MAX_S + _LENGTH_SLACK_S:
        raise InvalidInput(
            _(
                "`{slot}` is {seconds:.1f} s long; Kling needs {least:.0f} to {most:.0f} s. "
                "Trim or extend the clip."
            ).format(slot=name, seconds=facts.duration_s, least=CLIP_MIN_S, most=CLIP_MAX_S)
        )
    sides = ((_("the width here"), facts.width), (_("the height here"), facts.height))
    for side, pixels in sides:
        if not CLIP_MIN_PX <= pixels <= CLIP_MAX_PX:
            raise InvalidInput(
                _(
                    "`{slot}` is {width}×{height} px; Kling needs each side ({side}) between "
                    "{least} and {most} px."
                ).format(
                    slot=name,
                    width=facts.width,
                    height=facts.height,
                    side=side,
                    least=CLIP_MIN_PX,
                    most=CLIP_MAX_PX,
                )
            )
    if not CLIP_MIN_FPS - _FPS_SLACK <= facts.fps <= CLIP_MAX_FPS + _FPS_SLACK:
        raise InvalidInput(
            _("`{slot}` runs at {fps:.4g} fps; Kling needs {least:.0f} to {most:.0f} fps.").format(
                slot=name, fps=facts.fps, least=CLIP_MIN_FPS, most=CLIP_MAX_FPS
            )
        )


def probe_clip(slot: str, path: Path) -> ClipFacts:
    """Measure a clip with PyAV (blocking: call it in a thread). Unreadable → InvalidInput."""
    import av  # imported here: only the bot's clip checks and the fake CometAPI need FFmpeg

    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise InvalidInput(
                    _("`{slot}` has no video stream; attach a video clip.").format(
                        slot=option_name(slot)
                    )
                )
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            duration_s = _duration_s(container.duration, stream.duration, stream.time_base)
            has_audio = bool(container.streams.audio)
            # A header can lie: decode the first frame to prove the stream is readable.
            next(container.decode(stream), None)
    except InvalidInput:
        raise
    except (av.error.FFmpegError, OSError, ValueError, StopIteration):
        raise InvalidInput(
            _("`{slot}` is not a readable MP4 or MOV clip; export it again as MP4 (H.264).").format(
                slot=option_name(slot)
            )
        ) from None
    return ClipFacts(duration_s, width, height, fps, codec, has_audio)


def _duration_s(container_us: int | None, frames: int | None, base: Fraction | None) -> float:
    if container_us:
        return container_us / 1_000_000
    if frames and base:
        return float(frames * base)
    return 0.0

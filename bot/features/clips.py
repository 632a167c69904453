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
    why_max: str = "",
) -> None:
    """Refuse, from Discord's metadata alone, a clip the model would not take or the bot can't keep.

    `max_bytes` is the smallest of Kling's 200 MB, the bot's configured cap and what the bot may
    upload in this channel; `why_max` says which of them it is, for the sentence.
    """
    extension = Path(filename).suffix.lower().lstrip(".")
    type_ok = content_type is None or content_type.split(";")[0].strip() in CLIP_CONTENT_TYPES
    if extension not in CLIP_TYPES or not type_ok:
        raise InvalidInput(
            f"`{slot}` must be an MP4 or MOV clip; {filename[:80]!r} is not. "
            "Convert it to MP4 (H.264) and attach it again."
        )
    limit = min(max_bytes, CLIP_MAX_BYTES)
    if size_bytes > limit:
        reason = why_max or "Kling takes clips of"
        size, most = sizes_apart(size_bytes, limit)
        raise InvalidInput(
            f"`{slot}` is {size}; {reason} at most {most}. Trim or compress the clip."
        )


def check_clip_facts(slot: str, facts: ClipFacts) -> None:
    """Refuse a clip whose measured length, size, frame rate or codec Kling does not take."""
    if facts.codec not in CLIP_CODECS:
        raise InvalidInput(
            f"`{slot}` is encoded as {facts.codec or 'an unknown codec'}; Kling reads H.264 or "
            "H.265 video. Export the clip as MP4 (H.264) and attach it again."
        )
    if not CLIP_MIN_S - _LENGTH_SLACK_S <= facts.duration_s <= CLIP_MAX_S + _LENGTH_SLACK_S:
        raise InvalidInput(
            f"`{slot}` is {facts.duration_s:.1f} s long; Kling needs {CLIP_MIN_S:.0f} to "
            f"{CLIP_MAX_S:.0f} s. Trim or extend the clip."
        )
    for side, pixels in (("width", facts.width), ("height", facts.height)):
        if not CLIP_MIN_PX <= pixels <= CLIP_MAX_PX:
            raise InvalidInput(
                f"`{slot}` is {facts.width}×{facts.height} px; Kling needs each side (the "
                f"{side} here) between {CLIP_MIN_PX} and {CLIP_MAX_PX} px."
            )
    if not CLIP_MIN_FPS - _FPS_SLACK <= facts.fps <= CLIP_MAX_FPS + _FPS_SLACK:
        raise InvalidInput(
            f"`{slot}` runs at {facts.fps:.4g} fps; Kling needs {CLIP_MIN_FPS:.0f} to "
            f"{CLIP_MAX_FPS:.0f} fps."
        )


def probe_clip(slot: str, path: Path) -> ClipFacts:
    """Measure a clip with PyAV (blocking: call it in a thread). Unreadable → InvalidInput."""
    import av  # imported here: only the bot's clip checks and the fake CometAPI need FFmpeg

    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise InvalidInput(f"`{slot}` has no video stream; attach a video clip.")
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
            f"`{slot}` is not a readable MP4 or MOV clip; export it again as MP4 (H.264)."
        ) from None
    return ClipFacts(duration_s, width, height, fps, codec, has_audio)


def _duration_s(container_us: int | None, frames: int | None, base: Fraction | None) -> float:
    if container_us:
        return container_us / 1_000_000
    if frames and base:
        return float(frames * base)
    return 0.0

"""A GIF of a result: frames decoded with PyAV, written with Pillow, within an upload limit.

A GIF has no inter-frame compression worth the name, so its size grows with pixels times
frames. The bot tries the plans of `gif_plans` in order, from 480 px at 12 frames a second down
to 160 px at 6 (most pixels a second first), and keeps the first GIF that fits the channel's
upload limit. The plans are pure;
`make_gif` is blocking (call it in a thread).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from bot.domain.errors import InvalidInput
from bot.domain.i18n import _
from bot.domain.wording import human_size

if TYPE_CHECKING:
    import av

GIF_WIDTHS = (480, 360, 270, 200, 160)  # the longer side, in pixels
GIF_FPS = (12, 8, 6)
MAX_GIF_S = 30.0  # a longer video is cut: a GIF is a loop, not a film


@dataclass(frozen=True, slots=True)
class GifPlan:
    """One try: the longer side in pixels and frames a second."""

    longest_px: int
    fps: int


@dataclass(frozen=True, slots=True)
class GifFacts:
    """What was written."""

    path: Path
    width: int
    height: int
    fps: int
    frames: int
    size_bytes: int


def gif_plans(width: int, height: int) -> list[GifPlan]:
    """The tries for a video of this size, never larger than the video itself, best first:
    most pixels a second first, as a GIF's size follows them."""
    longest = max(width, height)
    sides = {min(side, longest) for side in GIF_WIDTHS}
    plans = [GifPlan(side, fps) for side in sides for fps in GIF_FPS]
    return sorted(plans, key=lambda p: (p.longest_px**2 * p.fps, p.longest_px), reverse=True)


def scaled(width: int, height: int, longest_px: int) -> tuple[int, int]:
    """The size with the longer side at `longest_px`, the shape kept (at least 1 px a side)."""
    ratio = longest_px / max(width, height)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def too_large(limit_bytes: int) -> InvalidInput:
    """The refusal when even the smallest GIF is over the limit."""
    return InvalidInput(
        _(
            "Even a small GIF of this video would be larger than the {limit} the bot may "
            "upload here, so none was made."
        ).format(limit=human_size(limit_bytes))
    )


def make_gif(source: Path, target: Path, *, max_bytes: int) -> GifFacts:
    """Write the first GIF of `source` that fits `max_bytes` to `target` (blocking)."""
    frames, width, height = _frames(source, max(GIF_FPS), max(GIF_WIDTHS))
    if not frames:
        raise InvalidInput(_("The video has no frames to make a GIF of."))
    partial = target.with_name(f".{target.name}.part")
    try:
        for plan in gif_plans(width, height):
            size = scaled(width, height, plan.longest_px)
            step = max(GIF_FPS) / plan.fps
            chosen = [frames[int(i * step)] for i in range(int(len(frames) / step))] or frames[:1]
            resized = [frame.resize(size, Image.Resampling.LANCZOS) for frame in chosen]
            _write(partial, resized, plan)
            size_bytes = partial.stat().st_size
            if size_bytes <= max_bytes:
                os.replace(partial, target)
                return GifFacts(target, size[0], size[1], plan.fps, len(chosen), size_bytes)
    finally:
        partial.unlink(missing_ok=True)
    raise too_large(max_bytes)


def _frames(source: Path, fps: int, longest_px: int) -> tuple[list[Image.Image], int, int]:
    """The video's frames at `fps` a second, no larger than `longest_px`, and its size."""
    import av  # imported here: only clips, joins and GIFs need FFmpeg

    frames: list[Image.Image] = []
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            size = scaled(width, height, min(longest_px, max(width, height)))
            for frame in _every(container.decode(stream), fps):
                small = frame.to_image(width=size[0], height=size[1])  # type: ignore[no-untyped-call]  # PyAV's stub
                frames.append(small)
    except (av.error.FFmpegError, OSError, IndexError):
        raise InvalidInput(_("The video could not be read to make a GIF of it.")) from None
    return frames, width, height


def _every(decoded: Iterator[av.VideoFrame], fps: int) -> Iterator[av.VideoFrame]:
    """The frames closest to each 1/fps step, up to MAX_GIF_S."""
    due = 0.0
    for frame in decoded:
        at = frame.time
        if at is None:
            continue
        if at >= MAX_GIF_S:
            return
        if at + 1e-6 >= due:
            yield frame
            due += 1 / fps
            while due <= at:  # a source slower than the GIF: its frames stand longer
                due += 1 / fps


def _write(path: Path, frames: list[Image.Image], plan: GifPlan) -> None:
    palettes = [frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE) for frame in frames]
    palettes[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=palettes[1:],
        duration=round(1000 / plan.fps),
        loop=0,
        disposal=1,
    )

"""Clips joined end to end into one MP4 with PyAV: an extended video's chain as one clip.

Where every piece carries the same streams (codec, size, pixel format and the codec's setup
bytes, as the shots of one Kling chain do) the packets are copied as they are, shifted in time:
no quality lost, done in a blink. Where they differ, every frame is decoded and encoded again
(H.264 at the first piece's size and frame rate; sound as AAC, silence where a piece has none).
Blocking: call `join_clips` in a thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.domain.errors import InvalidInput
from bot.domain.i18n import _

if TYPE_CHECKING:
    import av
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

JoinMode = Literal["remux", "reencode"]
AUDIO_RATE = 48000
_MP4_OPTIONS = {"movflags": "+faststart"}  # the index first: Discord plays it while loading


@dataclass(frozen=True, slots=True)
class PieceStreams:
    """What decides whether pieces can be copied together: their streams' setup."""

    video: tuple[object, ...]
    audio: tuple[object, ...] | None  # None: the piece has no sound


@dataclass(frozen=True, slots=True)
class JoinedClip:
    """The joined file, how it was made, and how long it plays."""

    path: Path
    mode: JoinMode
    duration_s: float


def can_remux(pieces: Sequence[PieceStreams]) -> bool:
    """Whether the packets can be copied: every piece's streams are set up alike."""
    return len({piece for piece in pieces}) == 1


def join_clips(sources: Sequence[Path], target: Path) -> JoinedClip:
    """Join `sources` in order into `target` (written whole, then renamed into place)."""
    import av

    if not sources:
        raise ValueError("nothing to join")
    partial = target.with_name(f".{target.name}.part")
    try:
        pieces = [_streams_of(path) for path in sources]
        mode: JoinMode = "remux" if can_remux(pieces) else "reencode"
        if mode == "remux":
            duration_s = _remux(sources, partial, has_audio=pieces[0].audio is not None)
        else:
            has_audio = any(piece.audio is not None for piece in pieces)
            duration_s = _reencode(sources, partial, has_audio=has_audio)
        os.replace(partial, target)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise InvalidInput(
            _("The clips could not be joined ({error}).").format(error=type(error).__name__)
        ) from None
    return JoinedClip(target, mode, duration_s)


def _streams_of(path: Path) -> PieceStreams:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name} has no video")
        video = container.streams.video[0].codec_context
        signature: tuple[object, ...] = (
            video.name,
            video.width,
            video.height,
            video.format.name if video.format else None,
            bytes(video.extradata or b""),
        )
        audio = None
        if container.streams.audio:
            sound = container.streams.audio[0].codec_context
            audio = (
                sound.name,
                sound.sample_rate,
                sound.layout.name,
                bytes(sound.extradata or b""),
            )
    return PieceStreams(signature, audio)


# -- copying packets ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Span:
    """One stream of one piece: its first and last timestamps, in seconds."""

    first_pts: Fraction | None = None
    first_dts: Fraction | None = None
    end: Fraction = Fraction(0)  # the latest pts + duration
    last_dts: Fraction | None = None


def _spans_of(path: Path, *, has_audio: bool) -> dict[str, _Span]:
    """A first look at a piece's packets: where each of its streams starts and ends."""
    import av

    with av.open(str(path)) as piece:
        streams = _chosen(piece, has_audio=has_audio)
        kinds = {stream.index: kind for kind, stream in streams.items()}
        spans = {kind: _Span() for kind in streams}
        for packet in piece.demux(list(streams.values())):
            _note(spans[kinds[packet.stream.index]], packet, Fraction(0))
    return spans


def _chosen(piece: InputContainer, *, has_audio: bool) -> dict[str, av.stream.Stream]:
    streams: dict[str, av.stream.Stream] = {"video": piece.streams.video[0]}
    if has_audio:
        streams["audio"] = piece.streams.audio[0]
    return streams


def _note(span: _Span, packet: Packet[Any], shift: Fraction) -> None:
    base = packet.time_base
    if packet.pts is None or packet.dts is None or base is None:
        return
    pts = packet.pts * base + shift
    dts = packet.dts * base + shift
    span.first_pts = pts if span.first_pts is None else min(span.first_pts, pts)
    span.first_dts = dts if span.first_dts is None else span.first_dts
    span.end = max(span.end, pts + (packet.duration or 0) * base)
    span.last_dts = dts


def _remux(sources: Sequence[Path], target: Path, *, has_audio: bool) -> float:
    import av

    written: dict[str, _Span] = {"video": _Span(), "audio": _Span()}
    with av.open(str(target), mode="w", format="mp4", options=_MP4_OPTIONS) as out:
        outputs: dict[str, object] = {}
        for path in sources:
            shift = _shift(written, _spans_of(path, has_audio=has_audio))
            with av.open(str(path)) as piece:
                streams = _chosen(piece, has_audio=has_audio)
                if not outputs:
                    outputs = {k: out.add_stream_from_template(s) for k, s in streams.items()}
                kinds = {s.index: k for k, s in streams.items()}
                for packet in piece.demux(list(streams.values())):
                    if packet.dts is None or packet.pts is None or packet.time_base is None:
                        continue  # the demuxer's end-of-stream marker
                    kind = kinds[packet.stream.index]
                    _note(written[kind], packet, shift)
                    ticks = shift / packet.time_base
                    packet.pts += round(ticks)
                    packet.dts += round(ticks)
                    packet.stream = outputs[kind]  # type: ignore[assignment]
                    out.mux(packet)
    return float(max(span.end for span in written.values()))


def _shift(written: dict[str, _Span], spans: dict[str, _Span]) -> Fraction:
    """How far to move a piece so that it starts where the joined clip ends, and every
    stream's decoding order keeps going forward."""
    shift = Fraction(0)
    for kind, span in spans.items():
        if span.first_pts is None or span.first_dts is None:
            continue
        done = written[kind]
        shift = max(shift, done.end - span.first_pts)
        if done.last_dts is not None:
            shift = max(shift, done.last_dts + Fraction(1, 1000) - span.first_dts)
    return shift


# -- decoding and encoding again ---------------------------------------------------------------


def _reencode(sources: Sequence[Path], target: Path, *, has_audio: bool) -> float:
    import av

    with av.open(str(sources[0])) as first:
        template = first.streams.video[0]
        width, height = template.codec_context.width, template.codec_context.height
        rate = template.average_rate or template.guessed_rate or Fraction(24)
    fps = Fraction(round(float(rate))) or Fraction(24)
    with av.open(str(target), mode="w", format="mp4", options=_MP4_OPTIONS) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = width - width % 2, height - height % 2
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        audio = out.add_stream("aac", rate=AUDIO_RATE) if has_audio else None
        if audio is not None:
            audio.layout = "stereo"
        slot = 0  # output frames written
        samples = 0  # output audio samples written
        for path in sources:
            start_s = Fraction(slot) / fps
            slot = _encode_video(out, video, path, fps, slot)
            if audio is not None:
                samples = _encode_audio(out, audio, path, start_s, Fraction(slot) / fps, samples)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            for packet in audio.encode():
                out.mux(packet)
    return float(Fraction(slot) / fps)


def _encode_video(
    out: OutputContainer, stream: VideoStream, path: Path, fps: Fraction, slot: int
) -> int:
    """One piece's frames at the output's size and rate, from `slot` on; the next free slot."""
    import av

    start = Fraction(slot) / fps
    last: VideoFrame | None = None
    first_time: float | None = None
    end_s = 0.0
    with av.open(str(path)) as piece:
        source = piece.streams.video[0]
        step = 1 / float(source.average_rate or fps)
        for frame in piece.decode(source):
            if frame.time is None:
                continue
            first_time = frame.time if first_time is None else first_time
            at = float(start) + frame.time - first_time
            if last is not None:
                slot = _repeat(out, stream, last, fps, slot, until_s=at)
            last = frame.reformat(stream.width, stream.height, "yuv420p")
            end_s = at + step
    if last is not None:
        slot = _repeat(out, stream, last, fps, slot, until_s=end_s)
    if slot == round(start * fps):
        raise ValueError(f"{path.name} has no frames")
    return slot


def _repeat(
    out: OutputContainer,
    stream: VideoStream,
    frame: VideoFrame,
    fps: Fraction,
    slot: int,
    *,
    until_s: float,
) -> int:
    """Show `frame` in every output slot that starts before `until_s` (dropping or repeating
    frames where the rates differ)."""
    while float(Fraction(slot) / fps) < until_s - 1e-6:
        frame.pts = slot
        frame.time_base = 1 / fps
        for packet in stream.encode(frame):
            out.mux(packet)
        slot += 1
    return slot


def _encode_audio(
    out: OutputContainer,
    stream: AudioStream,
    path: Path,
    start_s: Fraction,
    end_s: Fraction,
    samples: int,
) -> int:
    """One piece's sound (or silence) between `start_s` and `end_s`; samples written after."""
    import av

    start, end = round(start_s * AUDIO_RATE), round(end_s * AUDIO_RATE)
    samples = _silence(out, stream, samples, until=start)
    with av.open(str(path)) as piece:
        if piece.streams.audio:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            for frame in _decoded_then_flushed(piece, resampler):
                if samples >= end:
                    break
                frame.pts = samples
                frame.time_base = Fraction(1, AUDIO_RATE)
                for packet in stream.encode(frame):
                    out.mux(packet)
                samples += frame.samples
    return _silence(out, stream, samples, until=end)


def _decoded_then_flushed(
    piece: InputContainer, resampler: av.AudioResampler
) -> Iterator[av.AudioFrame]:
    for frame in piece.decode(piece.streams.audio[0]):
        yield from resampler.resample(frame)
    yield from resampler.resample(None)


def _silence(out: OutputContainer, stream: AudioStream, samples: int, *, until: int) -> int:
    import av

    while samples < until:
        count = min(1024, until - samples)
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=count)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = AUDIO_RATE
        frame.pts = samples
        frame.time_base = Fraction(1, AUDIO_RATE)
        for packet in stream.encode(frame):
            out.mux(packet)
        samples += count
    return samples

"""Real little clips made on the spot with PyAV, so no binary fixture lives in the repository.

A 3 s 720×720 H.264 MP4 takes about a tenth of a second and weighs a few hundred kilobytes (the
frames are flat colours). Tests, the demo and the fake CometAPI use it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from av import AudioStream
    from av.container import OutputContainer


def make_clip(
    path: Path,
    *,
    width: int = 720,
    height: int = 720,
    seconds: float = 3.0,
    fps: int = 24,
    codec: str = "libx264",
    with_audio: bool = False,
) -> Path:
    """Encode a clip of flat, changing colours (blocking: call it in a thread on a loop)."""
    import av

    container_format = "webm" if codec in ("libvpx", "libvpx-vp9") else None
    frames = max(1, round(seconds * fps))
    with av.open(str(path), mode="w", format=container_format) as container:
        video = container.add_stream(codec, rate=fps)
        assert isinstance(video, av.VideoStream)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast"}
        audio = container.add_stream("aac", rate=48000) if with_audio else None
        assert audio is None or isinstance(audio, av.AudioStream)
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, level in zip(frame.planes, (index * 7 % 200 + 16, 128, 128), strict=True):
                plane.update(bytes([level]) * plane.buffer_size)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            _add_silence(container, audio, seconds)
    return path


def _add_silence(container: OutputContainer, audio: AudioStream, seconds: float) -> None:
    import av

    samples_per_frame = 1024
    total = int(seconds * 48000)
    for start in range(0, total, samples_per_frame):
        frame = av.AudioFrame(format="fltp", layout="mono", samples=samples_per_frame)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 48000
        frame.pts = start
        for packet in audio.encode(frame):
            container.mux(packet)
    for packet in audio.encode():
        container.mux(packet)

"""The fake fetches every `video_url` like the real service, and refuses a clip it can't use.

Kling takes a video only by URL and refuses one it cannot download or read,
or that breaks the rules: MP4 or MOV, 3 to 10 s, each side 720 to 2160 px, 24 to 60 fps, at most
200 MB. So a test whose bot sends an expired or unusable URL fails here, as it would in
production. The fake fetches loopback URLs only (tests never touch the network); any other host
counts as unreachable. The measuring is shared with the bot (`bot.features.clips.probe_clip`:
PyAV); the rules below are this file's own reading of the spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

from bot.domain.errors import InvalidInput
from bot.features.clips import ClipFacts, probe_clip

MAX_BYTES = 200 * 1000 * 1000
FORMATS = (".mp4", ".mov")
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class VideoFetch:
    """One fetch of a `video_url` by the fake: what came back, and what was measured."""

    url: str
    status: int | None  # HTTP status; None when nothing answered
    facts: ClipFacts | None = None
    refusal: str | None = None


def _is_loopback(url: URL) -> bool:
    host = url.host or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _broken_rule(facts: ClipFacts, size_bytes: int) -> str | None:
    if size_bytes > MAX_BYTES:
        return f"video is {size_bytes} bytes, more than 200 MB"
    if facts.codec not in ("h264", "hevc"):
        return f"video codec {facts.codec} is not supported"
    if not 2.95 <= facts.duration_s <= 10.05:
        return f"video duration {facts.duration_s:.2f}s is outside 3-10s"
    if not (720 <= facts.width <= 2160 and 720 <= facts.height <= 2160):
        return f"video resolution {facts.width}x{facts.height} is outside 720-2160px"
    if not 23.5 <= facts.fps <= 60.5:
        return f"video frame rate {facts.fps:g} is outside 24-60fps"
    return None


async def fetch_and_check(session: aiohttp.ClientSession, raw_url: str) -> VideoFetch:
    """Download one `video_url` to a temporary file, measure it, and judge it."""
    try:
        url = URL(raw_url)
    except ValueError:
        return VideoFetch(raw_url, None, refusal="video_url is not a URL")
    if url.scheme not in ("http", "https") or not _is_loopback(url):
        return VideoFetch(raw_url, None, refusal="video_url could not be downloaded")
    if not url.path.lower().endswith(FORMATS):
        return VideoFetch(raw_url, None, refusal="video format must be mp4 or mov")
    with tempfile.TemporaryDirectory(prefix="fake-comet-clip-") as folder:
        path = Path(folder) / ("clip" + Path(url.path).suffix.lower())
        try:
            status, size = await _download(session, url, path)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return VideoFetch(raw_url, None, refusal="video_url could not be downloaded")
        if status != 200:
            return VideoFetch(raw_url, status, refusal="video_url could not be downloaded")
        if size > MAX_BYTES:
            return VideoFetch(raw_url, status, refusal="video is larger than 200 MB")
        try:
            facts = await asyncio.to_thread(probe_clip, "video", path)
        except InvalidInput:
            return VideoFetch(raw_url, status, refusal="video could not be decoded")
    return VideoFetch(raw_url, status, facts, _broken_rule(facts, size))


async def _download(session: aiohttp.ClientSession, url: URL, path: Path) -> tuple[int, int]:
    size = 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with session.get(url, timeout=timeout, allow_redirects=False) as response:
        if response.status != 200:
            return response.status, 0
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    break
                await asyncio.to_thread(handle.write, chunk)
        finally:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(handle.close)
        return response.status, size


def video_urls(body: object) -> list[str]:
    """Every `video_list[].video_url` string of a create body."""
    if not isinstance(body, dict):
        return []
    videos = body.get("video_list")
    if not isinstance(videos, list):
        return []
    return [
        v["video_url"]
        for v in videos
        if isinstance(v, dict) and isinstance(v.get("video_url"), str)
    ]

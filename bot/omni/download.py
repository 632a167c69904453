"""Streaming a result video from the CDN to disk: bounded size, no blocking I/O on the loop.

The file appears at `dest` only when complete (written as `.part`, fsynced, renamed). No request
header is added: the result URL is a CDN and must never see the CometAPI key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import aiohttp

from bot.domain.errors import ApiError, ApiErrorKind, KlingBotError

log = logging.getLogger("bot.omni.client")

_MAX_CONNECT_TIMEOUT_S = 10.0
_SOCK_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Download:
    """A result video saved to disk in full, with the facts a delivery needs."""

    path: Path
    size_bytes: int
    sha256: str
    content_type: str


class ResultTooLarge(KlingBotError):
    """The result is bigger than the caller allowed; no partial file is left behind."""

    def __init__(self, seen_bytes: int, max_bytes: int) -> None:
        super().__init__(
            f"The video is larger than the {max_bytes / 1_000_000:.1f} MB the bot may download."
        )
        self.seen_bytes = seen_bytes  # Content-Length, or how far the stream got before the cut
        self.max_bytes = max_bytes


async def download_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    chunk_size: int = 1 << 20,
    timeout_s: float = 600,
) -> Download:
    """Stream `url` to `dest`; raise `ResultTooLarge` or `ApiError`, leaving no partial file."""
    where = _loggable_url(url)
    try:
        result = await _stream(session, url, dest, max_bytes, chunk_size, timeout_s)
    except ResultTooLarge as exc:
        log.warning("omni download %s refused: %d > max_bytes=%d", where, exc.seen_bytes, max_bytes)
        raise
    except ApiError as exc:
        log.warning("omni download %s failed: %s", where, exc.log_line())
        raise
    except TimeoutError:
        timed_out = ApiError(ApiErrorKind.TRANSIENT, f"download did not finish in {timeout_s:g} s")
        log.warning("omni download %s failed: %s", where, timed_out.log_line())
        raise timed_out from None
    except aiohttp.ClientError as exc:
        # Only the exception's type and text: aiohttp's repr would include the request headers.
        broken = ApiError(ApiErrorKind.TRANSIENT, f"download failed: {type(exc).__name__}: {exc}")
        log.warning("omni download %s failed: %s", where, broken.log_line())
        raise broken from None
    log.info("omni download %s -> %s size_bytes=%d", where, dest, result.size_bytes)
    return result


async def _stream(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    max_bytes: int,
    chunk_size: int,
    timeout_s: float,
) -> Download:
    timeout = aiohttp.ClientTimeout(
        total=timeout_s,
        connect=min(_MAX_CONNECT_TIMEOUT_S, timeout_s / 2),
        sock_read=_SOCK_READ_TIMEOUT_S,
    )
    async with session.get(url, timeout=timeout) as resp:
        if resp.status != 200:
            raise _status_error(resp.status)
        declared = resp.content_length
        if declared is not None and declared > max_bytes:
            raise ResultTooLarge(declared, max_bytes)  # refuse before reading a byte
        writer = await asyncio.to_thread(_PartFile, dest.with_suffix(".part"))
        try:
            # Buffer to chunk_size so the thread hops stay few; memory stays about 2 chunks.
            buffered = bytearray()
            async for chunk in resp.content.iter_chunked(chunk_size):
                seen = writer.size_bytes + len(buffered) + len(chunk)
                if seen > max_bytes:
                    raise ResultTooLarge(seen, max_bytes)
                buffered += chunk
                if len(buffered) >= chunk_size:
                    await asyncio.to_thread(writer.write, bytes(buffered))
                    buffered.clear()
            if buffered:
                await asyncio.to_thread(writer.write, bytes(buffered))
            sha256 = await asyncio.to_thread(writer.commit, dest)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return Download(dest, writer.size_bytes, sha256, resp.content_type)


def _status_error(status: int) -> ApiError:
    if status in (401, 403, 404, 410):
        # Signed CDN links answer 403 or 404 once expired: fetching the same URL cannot help.
        detail = f"the result URL answered HTTP {status}; it may have expired"
        return ApiError(ApiErrorKind.NOT_FOUND, detail, http_status=status)
    kind = ApiErrorKind.TRANSIENT if status == 429 or status >= 500 else ApiErrorKind.UNKNOWN
    return ApiError(kind, f"the result URL answered HTTP {status}", http_status=status)


def _loggable_url(url: str) -> str:
    """Scheme, host and path only: CDN query strings carry signatures."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _PartFile:
    """A `.part` file being written and hashed; every method blocks, so run it in a thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.size_bytes = 0
        self._hash = hashlib.sha256()
        self._file: IO[bytes] | None = path.open("wb")

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)
        self.size_bytes += len(data)

    def commit(self, dest: Path) -> str:
        """Flush to disk and rename into place, so `dest` is either absent or complete."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.path, dest)
        _fsync_directory(dest.parent)
        return self._hash.hexdigest()

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; some platforms and filesystems refuse, which is not fatal."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""The committed media assets and the streamed (optionally padded) result MP4."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
# 5 s, 320x180, 24 fps H.264 test pattern with the moov box first (faststart): every result.
SAMPLE_MP4 = ASSETS_DIR / "sample_320x180_5s.mp4"
# 3 s, 720x720, 24 fps: the smallest video Kling accepts as input, for upload tests.
INPUT_MP4 = ASSETS_DIR / "input_720x720_3s.mp4"
# 320x320 PNG: above Kling's 300 px minimum for input images.
SAMPLE_PNG = ASSETS_DIR / "image_320x320.png"

CHUNK_BYTES = 64 * 1024
_ZEROS = bytes(CHUNK_BYTES)


def free_box_header(pad_bytes: int) -> bytes:
    """Header of a top-level MP4 `free` box that is `pad_bytes` long in total (ISO 14496-12)."""
    if pad_bytes < 8:
        raise ValueError(f"a free box needs at least 8 bytes, not {pad_bytes}")
    if pad_bytes <= 0xFFFFFFFF:
        return struct.pack(">I4s", pad_bytes, b"free")
    # size == 1 means a 64-bit "largesize" follows the type.
    return struct.pack(">I4sQ", 1, b"free", pad_bytes)


def padded_chunks(
    asset: bytes, total_bytes: int | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The asset, then a trailing `free` box so the file is exactly `total_bytes` and plays.

    Sizes are checked at once (not on the first chunk); the padding is yielded in reused zero
    chunks, so a 100 MiB file never exists in memory.
    """
    if not 1 <= chunk_bytes <= CHUNK_BYTES:
        raise ValueError(f"chunk_bytes must be 1 to {CHUNK_BYTES}")
    pad_bytes = 0 if total_bytes is None else total_bytes - len(asset)
    if pad_bytes < 0:
        raise ValueError(f"total_bytes must be at least the asset's {len(asset)} bytes")
    header = free_box_header(pad_bytes) if pad_bytes else b""
    return _chunks(asset, header, pad_bytes - len(header), chunk_bytes)


def _chunks(asset: bytes, header: bytes, zero_bytes: int, chunk_bytes: int) -> Iterator[bytes]:
    view = memoryview(asset)
    for start in range(0, len(asset), chunk_bytes):
        yield bytes(view[start : start + chunk_bytes])
    if header:
        yield header
    zeros = _ZEROS[:chunk_bytes]
    while zero_bytes > 0:
        chunk = zeros if zero_bytes >= chunk_bytes else zeros[:zero_bytes]
        yield chunk
        zero_bytes -= len(chunk)


async def stream_mp4(
    request: web.Request, asset: bytes, total_bytes: int | None
) -> web.StreamResponse:
    """Serve the MP4 with Content-Length set, written chunk by chunk (HEAD gets headers only)."""
    chunks = padded_chunks(asset, total_bytes)  # validates the size before anything is sent
    response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    response.content_length = len(asset) if total_bytes is None else total_bytes
    await response.prepare(request)
    if request.method != "HEAD":
        for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response

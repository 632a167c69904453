"""Images made for tests: ordinary ones, ones cut short, and small files with huge pixel counts."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def noise_image(width: int, height: int, image_format: str = "PNG") -> bytes:
    """A photo-like image (noise compresses badly, so cutting it short loses real pixels)."""
    data = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(data, format=image_format)
    return data.getvalue()


def cut_short(data: bytes) -> bytes:
    """The first half of a file: the header intact, the pixel data truncated."""
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def one_bit_png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG, written row by row so no full-size buffer is ever made."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the packed bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def png(width: int, height: int, colour: str = "teal") -> bytes:
    """A flat-coloured PNG of this size."""
    data = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(data, format="PNG")
    return data.getvalue()

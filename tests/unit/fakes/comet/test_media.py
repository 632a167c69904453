"""The result MP4: committed assets, the `free`-box padding, and the streamed file route."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.fakes.comet import (
    CREATE_PATH,
    INPUT_MP4,
    SAMPLE_MP4,
    SAMPLE_PNG,
    FakeCometAPI,
    FakeCometConfig,
    padded_chunks,
)

KEY = "sk-media"
ASSET = SAMPLE_MP4.read_bytes()


def top_level_boxes(data: bytes) -> list[tuple[bytes, int]]:
    """(type, size) of each top-level ISO-BMFF box; the sizes must tile the file exactly."""
    boxes = []
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        assert size >= 8
        boxes.append((kind, size))
        offset += size
    assert offset == len(data)
    return boxes


def test_assets_are_small_and_well_formed() -> None:
    for path in (SAMPLE_MP4, INPUT_MP4):
        data = path.read_bytes()
        assert len(data) < 100_000
        kinds = [kind for kind, _ in top_level_boxes(data)]
        assert kinds[0] == b"ftyp"
        assert kinds.index(b"moov") < kinds.index(b"mdat")  # faststart
    png = SAMPLE_PNG.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert min(width, height) >= 300


@pytest.mark.parametrize("extra", [0, 8, 9, 70_000, 200_001])
def test_padding_is_exact_and_keeps_the_boxes_valid(extra: int) -> None:
    total = len(ASSET) + extra
    data = b"".join(padded_chunks(ASSET, total, chunk_bytes=4096))
    assert len(data) == total
    assert data.startswith(ASSET)
    boxes = top_level_boxes(data)
    if extra:
        assert boxes[-1] == (b"free", extra)


def test_padding_uses_a_64_bit_box_beyond_4_gib() -> None:
    chunks = padded_chunks(ASSET, len(ASSET) + 2**32 + 16)
    header = [c for c in chunks if c.startswith(b"\x00\x00\x00\x01free")]
    assert header == [struct.pack(">I4sQ", 1, b"free", 2**32 + 16)]


def test_padding_chunks_are_bounded() -> None:
    chunks = padded_chunks(ASSET, 5 * 1024 * 1024)
    assert max(len(chunk) for chunk in chunks) <= 64 * 1024


@pytest.mark.parametrize("total", [len(ASSET) - 1, len(ASSET) + 3])
def test_impossible_sizes_are_refused_at_once(total: int) -> None:
    with pytest.raises(ValueError):
        padded_chunks(ASSET, total)


def test_padding_none_is_the_asset() -> None:
    assert b"".join(padded_chunks(ASSET, None)) == ASSET


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    config = FakeCometConfig(api_key=KEY, submitted_s=math.inf, processing_s=math.inf)
    async with FakeCometAPI(config) as server:
        yield server


@pytest.fixture
async def http(fake: FakeCometAPI) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake.base_url) as session:  # no key: a CDN
        yield session


async def finished_task(fake: FakeCometAPI, http: aiohttp.ClientSession) -> str:
    body = {"prompt": "p", "aspect_ratio": "16:9"}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with http.post(CREATE_PATH, json=body, headers=headers) as resp:
        task_id: str = (await resp.json())["data"]["task_id"]
    fake.finish(task_id)
    return task_id


async def test_file_route_serves_the_mp4(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    task_id = await finished_task(fake, http)
    async with http.get(f"/files/{task_id}.mp4") as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        assert resp.content_length == len(ASSET)
        data = await resp.read()
    assert data[4:8] == b"ftyp"
    assert data == ASSET
    assert fake.requests[-1].task_id == task_id
    async with http.head(f"/files/{task_id}.mp4") as resp:
        assert (resp.status, resp.content_length) == (200, len(ASSET))
        assert await resp.read() == b""


async def test_padded_100_mib_download_is_exact(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    size = 100 * 1024 * 1024
    fake.config.result_size_bytes = size
    task_id = await finished_task(fake, http)
    received = 0
    async with http.get(f"/files/{task_id}.mp4") as resp:
        assert resp.content_length == size
        head = await resp.content.readexactly(len(ASSET) + 8)
        received += len(head)
        async for chunk in resp.content.iter_chunked(1024 * 1024):
            received += len(chunk)
    assert received == size
    assert head.startswith(ASSET)
    assert head[len(ASSET) :] == struct.pack(">I4s", size - len(ASSET), b"free")


@pytest.mark.parametrize("name", ["123.mp4", "{task}.mov", "{task}_watermark.mp4"])
async def test_file_route_404s(fake: FakeCometAPI, http: aiohttp.ClientSession, name: str) -> None:
    task_id = await finished_task(fake, http)
    async with http.get("/files/" + name.format(task=task_id)) as resp:
        assert resp.status == 404


async def test_no_file_before_success(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"prompt": "p", "aspect_ratio": "16:9"}
    async with http.post(CREATE_PATH, json=body, headers=headers) as resp:
        task_id = (await resp.json())["data"]["task_id"]
    async with http.get(f"/files/{task_id}.mp4") as resp:
        assert resp.status == 404
    fake.finish(task_id, "failed")
    async with http.get(f"/files/{task_id}.mp4") as resp:
        assert resp.status == 404

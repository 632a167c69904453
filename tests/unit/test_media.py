"""Input images: refused early from Discord's metadata, kept, and sent as raw base64."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.errors import InvalidInput
from bot.generation import VideoOptions, build_video_request, image_fields
from bot.media import AttachmentInfo, MediaStore, check_image
from bot.settings import OmniSettings


def info(
    slot: str, name: str = "a.png", size: int = 1000, w: int | None = 512, h: int | None = 512
) -> AttachmentInfo:
    return AttachmentInfo(slot, name, f"https://cdn.example/{slot}/{name}", size, "image/png", w, h)


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        (info("image_1", "a.gif"), "`image_1` must be a PNG or JPEG image"),
        (info("image_1", size=11 * 1024 * 1024), "images may be at most 10 MB"),
        (info("first_frame", w=299, h=600), "need at least 300 px on each side"),
        (info("image_2", w=1000, h=300), "differ by at most 2.5 times"),
    ],
)
def test_metadata_refusals_name_the_option(attachment: AttachmentInfo, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        check_image(attachment)


def test_unknown_dimensions_wait_for_the_real_file() -> None:
    check_image(info("image_1", w=None, h=None))  # no refusal from metadata alone


def test_reference_images_come_first_then_the_frames() -> None:
    fields = image_fields(
        (info("end_frame"), info("image_2"), info("first_frame"), info("image_1"))
    )
    assert [f.get("frame") for f in fields] == [None, None, "first_frame", "end_frame"]
    assert fields[0]["url"].endswith("/image_1/a.png")


def test_a_gap_in_the_images_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Attach `image_1` before the later images"):
        image_fields((info("image_2"),))


def test_a_first_frame_drops_the_default_shape_but_not_the_members_choice() -> None:
    defaults = OmniSettings()
    framed = build_video_request(
        VideoOptions("dance", attachments=(info("first_frame"),)), defaults
    )
    assert framed.aspect_ratio is None
    with pytest.raises(InvalidInput, match="comes from the first frame"):
        build_video_request(
            VideoOptions("dance", aspect_ratio="1:1", attachments=(info("first_frame"),)), defaults
        )


async def test_kept_images_are_sent_as_raw_base64(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (320, 320), "teal").save(png, format="PNG")
    kept = tmp_path / "inputs" / "7" / "image_1.png"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(png.getvalue())
    request = build_video_request(
        VideoOptions("a <<<image_1>>>", attachments=(info("image_1"),)), OmniSettings()
    )
    stored = request.model_copy(
        update={
            "images": (request.images[0].model_copy(update={"url": "media:inputs/7/image_1.png"}),)
        }
    )
    async with aiohttp.ClientSession() as session:
        media = MediaStore(tmp_path, session)
        sent = await media.resolve(stored)
        assert base64.b64decode(sent.images[0].url) == png.getvalue()
        with pytest.raises(InvalidInput, match="invalid name"):
            media.path_of("media:../secrets.txt")
        kept.unlink()
        with pytest.raises(InvalidInput, match="missing from the bot's storage"):
            await media.resolve(stored)

"""Input images: refused early from Discord's metadata, kept, and sent as raw base64."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.domain.errors import InvalidInput
from bot.features.media import AttachmentInfo, MediaStore, check_image, check_image_file
from bot.features.requests import VideoOptions, build_video_request, image_fields
from bot.settings import OmniSettings
from tests.helpers.images import cut_short, noise_image, one_bit_png


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
        (
            info("image_3", w=15000, h=15000),
            "`image_3` is 15000×15000 px (225 megapixels); images may have at most 50 megapixels.",
        ),
    ],
)
def test_metadata_refusals_name_the_option(attachment: AttachmentInfo, expected: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(expected)):
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
        VideoOptions(prompt="dance", attachments=(info("first_frame"),)), defaults
    )
    assert framed.aspect_ratio is None
    with pytest.raises(InvalidInput, match="comes from the first frame"):
        build_video_request(
            VideoOptions(prompt="dance", aspect_ratio="1:1", attachments=(info("first_frame"),)),
            defaults,
        )


async def test_kept_images_are_sent_as_raw_base64(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (320, 320), "teal").save(png, format="PNG")
    kept = tmp_path / "inputs" / "7" / "image_1.png"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(png.getvalue())
    request = build_video_request(
        VideoOptions(prompt="a <<<image_1>>>", attachments=(info("image_1"),)), OmniSettings()
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


# -- the downloaded file, checked for real -------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_a_whole_image_is_accepted(tmp_path: Path, image_format: str) -> None:
    path = tmp_path / "photo"
    path.write_bytes(noise_image(640, 480, image_format))
    check_image_file(path, "image_1")  # no refusal


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_an_image_cut_short_is_refused(tmp_path: Path, image_format: str) -> None:
    path = tmp_path / "photo"
    path.write_bytes(cut_short(noise_image(640, 480, image_format)))
    with Image.open(path) as image:
        assert image.size == (640, 480)  # the header alone looks fine
    with pytest.raises(InvalidInput, match="`image_1` is not a readable PNG or JPEG image"):
        check_image_file(path, "image_1")


def test_a_png_with_a_corrupt_checksum_is_refused(tmp_path: Path) -> None:
    data = bytearray(noise_image(640, 480))
    data[-13] ^= 0xFF  # inside the last IDAT chunk's checksum
    path = tmp_path / "photo.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="not a readable PNG or JPEG image"):
        check_image_file(path, "image_1")


def test_a_small_file_with_a_huge_pixel_count_is_refused_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(one_bit_png(15000, 15000))  # 27 KB on disk, 225 megapixels unpacked
    assert path.stat().st_size < 100_000
    with pytest.raises(InvalidInput) as refused:
        check_image_file(path, "first_frame")
    assert refused.value.member_message == (
        "`first_frame` is 15000×15000 px (225 megapixels); images may have at most 50 megapixels."
    )


def test_an_image_under_pillows_limit_but_over_ours_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wide.png"
    path.write_bytes(one_bit_png(9000, 6000))  # 54 megapixels: Pillow would open it
    with pytest.raises(InvalidInput, match=r"9000×6000 px \(54 megapixels\)"):
        check_image_file(path, "image_1")

"""Input media: check what a member attached, keep our own copy, and send it when the task goes.

A member's attachments live on Discord's CDN behind signed URLs that expire (about a day); a rerun
may come days later. So every input is downloaded when the command arrives (streamed, capped),
checked for real (images: format and pixels, with Pillow; clips: length, size, frame rate and
codec, with PyAV), kept under `storage.media_dir`, and the stored request refers to the copy
(`media:inputs/<task>/<slot>.<ext>`). When the task is submitted an image reference becomes the
raw base64 the Omni API takes (no `data:` prefix); a clip, which the API takes only by URL, is
handed over by `clip_hosting.py`.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import aiohttp
from PIL import Image, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from bot.domain.errors import ApiError, InvalidInput
from bot.domain.i18n import _, option_name
from bot.domain.request import ImageInput, OmniRequest
from bot.features.clips import CLIP_MAX_BYTES, check_clip_facts, probe_clip
from bot.omni.download import ResultTooLarge, download_to_file

MEDIA_REF = "media:"
IMAGE_MAX_BYTES = 10 * 1024 * 1024  # Kling's limits for an input image: at most 10 MB,
IMAGE_MIN_PX = 300  # width and height at least 300 px,
IMAGE_MAX_RATIO = 2.5  # aspect ratio between 1:2.5 and 2.5:1
IMAGE_TYPES = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}  # extension → Pillow's format name
VIDEO_SLOT = "video"  # the option (and the kept file's stem) of a member's clip
CLIP_DOWNLOAD_TIMEOUT_S = 600
# Ours, not the API's: every image is decoded in full before it is accepted, and a 1-bit PNG of
# a few kilobytes can unpack to gigabytes. 50 megapixels covers an 8000×6000 photo.
IMAGE_MAX_PIXELS = 50_000_000


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What Discord says about an attached file (before we download it)."""

    slot: str  # the option's name: image_1 … image_4, first_frame, end_frame, video
    filename: str
    url: str
    size_bytes: int
    content_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def extension(self) -> str:
        """The file's extension, lower case, without the dot."""
        return PurePosixPath(self.filename).suffix.lower().lstrip(".")


def check_image(info: AttachmentInfo) -> None:
    """Refuse, from Discord's metadata alone, an image the model would not take."""
    if info.extension not in IMAGE_TYPES:
        raise InvalidInput(
            _("`{slot}` must be a PNG or JPEG image; {filename} is not.").format(
                slot=option_name(info.slot), filename=repr(info.filename)
            )
        )
    if info.size_bytes > IMAGE_MAX_BYTES:
        raise InvalidInput(
            _("`{slot}` is {size:.1f} MB; images may be at most 10 MB.").format(
                slot=option_name(info.slot), size=info.size_bytes / 1024 / 1024
            )
        )
    if info.width is not None and info.height is not None:
        check_pixels(info.slot, info.width, info.height)


def check_pixels(slot: str, width: int, height: int) -> None:
    """Refuse an image smaller than 300 px on a side, more elongated than 2.5:1, or too large."""
    name = option_name(slot)
    if width * height > IMAGE_MAX_PIXELS:
        raise InvalidInput(
            _(
                "`{slot}` is {width}×{height} px ({megapixels:.0f} megapixels); images may have "
                "at most {most} megapixels."
            ).format(
                slot=name,
                width=width,
                height=height,
                megapixels=width * height / 1e6,
                most=IMAGE_MAX_PIXELS // 1_000_000,
            )
        )
    if min(width, height) < IMAGE_MIN_PX:
        raise InvalidInput(
            _(
                "`{slot}` is {width}×{height} px; images need at least {least} px on each side."
            ).format(slot=name, width=width, height=height, least=IMAGE_MIN_PX)
        )
    if max(width, height) / min(width, height) > IMAGE_MAX_RATIO:
        raise InvalidInput(
            _("`{slot}` is {width}×{height} px; its sides may differ by at most 2.5 times.").format(
                slot=name, width=width, height=height
            )
        )


class MediaStore:
    """Our copies of members' inputs, under `storage.media_dir`."""

    def __init__(
        self,
        media_dir: Path,
        session: aiohttp.ClientSession,
        *,
        max_clip_bytes: int = CLIP_MAX_BYTES,
    ) -> None:
        self.media_dir = media_dir
        self._session = session
        self.max_clip_bytes = min(max_clip_bytes, CLIP_MAX_BYTES)

    async def keep(self, task_id: int, info: AttachmentInfo) -> str:
        """Download an input (streamed, capped), check it for real, return its media reference."""
        if info.slot == VIDEO_SLOT:
            return await self._keep_clip(task_id, info)
        relative = PurePosixPath("inputs", str(task_id), f"{info.slot}.{info.extension}")
        target = self.media_dir / relative
        try:
            await download_to_file(
                self._session, info.url, target, max_bytes=IMAGE_MAX_BYTES, timeout_s=120
            )
        except ResultTooLarge:
            raise InvalidInput(
                _("`{slot}` is larger than 10 MB.").format(slot=option_name(info.slot))
            ) from None
        except ApiError:
            raise _not_downloaded(info.slot) from None
        try:
            await asyncio.to_thread(check_image_file, target, info.slot)
        except InvalidInput:
            target.unlink(missing_ok=True)
            raise
        return MEDIA_REF + relative.as_posix()

    async def _keep_clip(self, task_id: int, info: AttachmentInfo) -> str:
        relative = PurePosixPath("inputs", str(task_id), f"{VIDEO_SLOT}.{info.extension}")
        target = self.media_dir / relative
        try:
            await download_to_file(
                self._session,
                info.url,
                target,
                max_bytes=self.max_clip_bytes,
                timeout_s=CLIP_DOWNLOAD_TIMEOUT_S,
            )
        except ResultTooLarge:
            limit_mb = self.max_clip_bytes / 1000 / 1000
            raise InvalidInput(
                _("`{slot}` is larger than the {limit:.0f} MB the bot takes.").format(
                    slot=option_name(info.slot), limit=limit_mb
                )
            ) from None
        except ApiError:
            raise _not_downloaded(info.slot) from None
        try:
            facts = await asyncio.to_thread(probe_clip, info.slot, target)
            check_clip_facts(info.slot, facts)
        except InvalidInput:
            await asyncio.to_thread(target.unlink, True)
            raise
        return MEDIA_REF + relative.as_posix()

    async def forget(self, task_id: int) -> None:
        """Remove a withdrawn task's inputs."""
        folder = self.media_dir / "inputs" / str(task_id)
        await asyncio.to_thread(shutil.rmtree, folder, True)

    async def resolve(self, request: OmniRequest) -> OmniRequest:
        """The request as the API takes it: kept images inlined as raw base64."""
        if not any(image.url.startswith(MEDIA_REF) for image in request.images):
            return request
        images = []
        for image in request.images:
            url = image.url
            if url.startswith(MEDIA_REF):
                url = await asyncio.to_thread(self._base64_of, url)
            images.append(ImageInput(url=url, frame=image.frame))
        return request.model_copy(update={"images": tuple(images)})

    async def missing_images(self, request: OmniRequest) -> list[str]:
        """The slots (`image_1`, `first_frame` …) of kept images no longer on disk."""
        kept = [image.url for image in request.images if image.url.startswith(MEDIA_REF)]
        missing = []
        for reference in kept:
            if not await asyncio.to_thread(self.path_of(reference).is_file):
                missing.append(PurePosixPath(reference).stem)
        return missing

    def path_of(self, reference: str) -> Path:
        """The file a media reference points at (never outside the media directory)."""
        relative = PurePosixPath(reference.removeprefix(MEDIA_REF))
        if relative.is_absolute() or ".." in relative.parts:
            raise InvalidInput(_("A kept input has an invalid name."))
        return self.media_dir / relative

    def _base64_of(self, reference: str) -> str:
        path = self.path_of(reference)
        try:
            return base64.b64encode(path.read_bytes()).decode("ascii")
        except FileNotFoundError:
            raise InvalidInput(
                _("An input image kept for this task is missing from the bot's storage.")
            ) from None


def check_image_file(path: Path, slot: str) -> None:
    """Refuse a file that is not a whole PNG or JPEG the model takes; decodes it (blocking).

    The header gives the format and size, checked first so a huge image is refused before it is
    unpacked; then the whole image is verified and decoded, so a file cut short or corrupted in
    the middle is refused here rather than by the API after the member was charged.
    """
    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        kind, (width, height) = _header_without_bomb_check(path, slot)
    except (UnidentifiedImageError, OSError):
        raise _unreadable(slot) from None
    if kind not in IMAGE_TYPES.values():
        raise InvalidInput(
            _("`{slot}` is a {kind} image; use PNG or JPEG.").format(
                slot=option_name(slot), kind=kind
            )
        )
    check_pixels(slot, width, height)
    try:
        with Image.open(path) as image:
            image.verify()  # PNG: every chunk's checksum; cheap, and load() does not do it
        with Image.open(path) as image:
            image.load()  # every pixel: a truncated or corrupt stream fails here
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error):
        raise _unreadable(slot) from None


def _unreadable(slot: str) -> InvalidInput:
    return InvalidInput(
        _("`{slot}` is not a readable PNG or JPEG image.").format(slot=option_name(slot))
    )


def _not_downloaded(slot: str) -> InvalidInput:
    return InvalidInput(
        _("`{slot}` could not be downloaded from Discord; attach it again.").format(
            slot=option_name(slot)
        )
    )


def _header_without_bomb_check(path: Path, slot: str) -> tuple[str, tuple[int, int]]:
    """Format and size of an image Pillow refuses to open at all for its size.

    `Image.open` raises `DecompressionBombError` without saying the size; the PNG and JPEG readers
    used directly read only the header, so the member can be told the size and the limit.
    """
    for reader in (PngImagePlugin.PngImageFile, JpegImagePlugin.JpegImageFile):
        try:
            with reader(path) as image:
                return str(image.format), image.size
        except (OSError, SyntaxError, ValueError, IndexError, struct.error):
            continue
    raise _unreadable(slot)

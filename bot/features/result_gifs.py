"""The GIF button: who may have a GIF of a result, which file it is made from, and the making.

Knows nothing about discord.py: the cog hands in a `GifPress` and posts the file it gets. The
GIF is made from the bot's own copy of the video, or, once that is gone (`storage.keep_media_days`),
from the result message's attachment; one at a time (it takes both of a small machine's cores for
a moment), in a thread, within the channel's upload limit (`bot.features.gif`). Nothing is charged:
no API is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.domain.delivery import kept_result
from bot.domain.errors import ApiError, InvalidInput, NotYours
from bot.domain.i18n import N_, _
from bot.domain.moderation import MemberFacts
from bot.domain.records import TaskRecord
from bot.features.gif import GifFacts, make_gif
from bot.features.reruns import NOT_YOURS, RerunService
from bot.omni.download import ResultTooLarge, download_to_file

NO_FILE = N_(
    "The bot no longer has this video's file and it was posted as a link, so no GIF can be "
    "made of it."
)
BUSY = N_("A GIF of this video is being made already; it will be posted here in a moment.")
_DOWNLOAD_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class GifPress:
    """A member pressed GIF under a result."""

    guild_id: int
    task_id: int
    member: MemberFacts
    upload_limit_bytes: int  # what the bot may upload where the GIF is posted
    attachment_url: str | None = None  # the result's MP4 on the pressed message, if any
    attachment_bytes: int | None = None


class ResultGifs:
    """Makes GIFs of results for the members who may have them."""

    def __init__(
        self, reruns: RerunService, session: aiohttp.ClientSession, results_dir: Path
    ) -> None:
        self._reruns = reruns
        self._session = session
        self._results_dir = results_dir
        self._busy: set[int] = set()  # tasks whose GIF is being made
        self._turn = asyncio.Semaphore(1)

    async def check(self, press: GifPress) -> TaskRecord:
        """The result's task, if this member may have a GIF of it (else the refusal)."""
        task = await self._reruns.result_task(press.guild_id, press.task_id)
        if not await self._reruns.allows(task, press.member):
            raise NotYours(_(NOT_YOURS))
        if task.id in self._busy:
            raise InvalidInput(_(BUSY))
        return task

    @contextlib.asynccontextmanager
    async def made(self, press: GifPress) -> AsyncIterator[GifFacts]:
        """The GIF, in a folder removed when the block ends (post it inside the block)."""
        task = await self.check(press)
        self._busy.add(task.id)
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="kling-gif-"))
        try:
            source = await self._source(task, press, folder)
            target = folder / f"kling-{task.id}.gif"
            async with self._turn:
                facts = await asyncio.to_thread(
                    make_gif, source, target, max_bytes=press.upload_limit_bytes
                )
            yield facts
        finally:
            self._busy.discard(task.id)
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _source(self, task: TaskRecord, press: GifPress, folder: Path) -> Path:
        """The bot's copy of the video, else the result message's attachment, downloaded."""
        kept = kept_result(self._results_dir, task.id)
        if await asyncio.to_thread(kept.is_file):
            return kept
        if press.attachment_url is None:
            raise InvalidInput(_(NO_FILE))
        target = folder / "video.mp4"
        try:
            await download_to_file(
                self._session,
                press.attachment_url,
                target,
                max_bytes=press.attachment_bytes or press.upload_limit_bytes,
                timeout_s=_DOWNLOAD_TIMEOUT_S,
            )
        except (ApiError, ResultTooLarge):
            raise InvalidInput(
                _("The video could not be downloaded from Discord to make a GIF; try again.")
            ) from None
        return target

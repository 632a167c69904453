"""Media retention: kept inputs and downloaded results older than `storage.keep_media_days` go.

Members' inputs are kept under `media_dir/inputs/<task>/` so that a 🔁 rerun days later does not
depend on Discord's expiring URLs; results are downloaded to `media_dir/results/task-<id>.mp4`
before they are posted. Neither is needed forever, and a busy server would fill the disk. The
decision is a pure function of what is on disk, what unfinished tasks still use, and the time;
`MediaRetention` is the loop around it (owned by the bot: `start()`, `stop()`, `run_once()`).

A rerun of a task whose images were removed is refused with a sentence before anything is
charged (`MediaStore.missing_images`). A removed clip is no loss for a rerun: the bot lent it to
Discord on the task's status message, and sends the URL Discord signs for that attachment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Literal

from bot.domain.lifecycle import TaskState
from bot.engine.periodic import Periodic
from bot.features.media import MEDIA_REF
from bot.store import TaskStore

log = logging.getLogger(__name__)

MediaKind = Literal["inputs", "results"]
# A result, the joined clip of its chain (▶ Extend), and either one half written.
_RESULT_NAME = re.compile(r"^(?:\.)?task-(\d+)(?:-chain)?\.mp4(?:\.part)?$")


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """A kept input folder or a result file, with the task it belongs to and its age."""

    relative: PurePosixPath  # under media_dir: inputs/12 or results/task-12.mp4
    kind: MediaKind
    task_id: int
    modified_at: datetime  # the newest file in it (UTC)
    size_bytes: int


def expired_media(
    entries: Iterable[MediaEntry], *, now: datetime, keep_days: int, in_use: set[int]
) -> list[MediaEntry]:
    """What to remove: older than `keep_days` and not used by an unfinished task.

    `keep_days = 0` keeps everything. `in_use` holds the ids of the tasks whose inputs or result
    a task that has not ended may still need (its own, or the original a rerun points at).
    """
    if keep_days <= 0:
        return []
    cutoff = now - timedelta(days=keep_days)
    return [e for e in entries if e.modified_at < cutoff and e.task_id not in in_use]


def media_owners(request_urls: Iterable[str]) -> set[int]:
    """The tasks whose kept inputs these URLs point at (`media:inputs/<task>/...`), or whose
    result they continue (`media:results/task-<task>.mp4`)."""
    owners = set()
    for url in request_urls:
        parts = PurePosixPath(url.removeprefix(MEDIA_REF)).parts
        if url.startswith(MEDIA_REF) and len(parts) >= 2 and parts[0] == "inputs":
            with contextlib.suppress(ValueError):
                owners.add(int(parts[1]))
        elif (
            url.startswith(MEDIA_REF)
            and len(parts) == 2
            and parts[0] == "results"
            and (match := _RESULT_NAME.match(parts[1])) is not None
        ):
            owners.add(int(match.group(1)))
    return owners


def scan_media(media_dir: Path) -> list[MediaEntry]:
    """What is kept on disk (blocking: run it in a thread)."""
    entries: list[MediaEntry] = []
    inputs = media_dir / "inputs"
    if inputs.is_dir():
        for folder in inputs.iterdir():
            if not (folder.is_dir() and folder.name.isdigit()):
                continue
            files = [f.stat() for f in folder.rglob("*") if f.is_file()]
            newest = max((s.st_mtime for s in files), default=folder.stat().st_mtime)
            entries.append(
                MediaEntry(
                    PurePosixPath("inputs", folder.name),
                    "inputs",
                    int(folder.name),
                    datetime.fromtimestamp(newest, UTC),
                    sum(s.st_size for s in files),
                )
            )
    results = media_dir / "results"
    if results.is_dir():
        for file in results.iterdir():
            match = _RESULT_NAME.match(file.name)
            if match is None or not file.is_file():
                continue
            stat = file.stat()
            entries.append(
                MediaEntry(
                    PurePosixPath("results", file.name),
                    "results",
                    int(match.group(1)),
                    datetime.fromtimestamp(stat.st_mtime, UTC),
                    stat.st_size,
                )
            )
    return entries


def remove_media(media_dir: Path, entries: Iterable[MediaEntry]) -> int:
    """Remove these entries (blocking); return the bytes freed."""
    freed = 0
    for entry in entries:
        path = media_dir / entry.relative
        if entry.kind == "inputs":
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        freed += entry.size_bytes
    return freed


@dataclass(frozen=True, slots=True)
class RetentionPass:
    """What one pass removed."""

    removed: tuple[MediaEntry, ...]
    freed_bytes: int


class MediaRetention:
    """Removes expired media now and then, and never what an unfinished task still needs."""

    def __init__(
        self,
        store: TaskStore,
        media_dir: Path,
        *,
        keep_days: int,
        every_s: float = 3600.0,
    ) -> None:
        self._store = store
        self._media_dir = media_dir
        self._keep_days = keep_days
        self._loop = Periodic("media-retention", every_s, self.run_once, _pass_failed)

    async def run_once(self, *, now: datetime | None = None) -> RetentionPass:
        """One pass: scan, decide, remove; return what went."""
        if self._keep_days <= 0:
            return RetentionPass((), 0)
        # Read what is in use before scanning: a task that starts meanwhile keeps files that
        # are new, which are not expired anyway.
        in_use = await self._in_use()
        entries = await asyncio.to_thread(scan_media, self._media_dir)
        moment = now or datetime.now(UTC)
        expired = expired_media(entries, now=moment, keep_days=self._keep_days, in_use=in_use)
        if not expired:
            return RetentionPass((), 0)
        freed = await asyncio.to_thread(remove_media, self._media_dir, expired)
        log.info(
            "media retention: removed %d kept inputs and %d results older than %d days (%.1f MB)",
            sum(e.kind == "inputs" for e in expired),
            sum(e.kind == "results" for e in expired),
            self._keep_days,
            freed / 1e6,
        )
        return RetentionPass(tuple(expired), freed)

    async def _in_use(self) -> set[int]:
        unfinished = await self._store.tasks_in_states(
            [state for state in TaskState if not state.is_terminal]
        )
        in_use = {task.id for task in unfinished}
        urls = [image.url for task in unfinished for image in task.request.images]
        urls += [video.url for task in unfinished for video in task.request.videos]
        return in_use | media_owners(urls)

    def start(self) -> None:
        """Run a pass now and then every `every_s`, until `stop()`."""
        if self._keep_days > 0:
            self._loop.start()

    async def stop(self) -> None:
        """Stop the loop (a pass in progress is cut off between files: harmless)."""
        await self._loop.stop()


def _pass_failed() -> None:
    log.exception("media retention pass failed; trying again later")

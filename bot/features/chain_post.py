"""What an extension's result message adds: the shot it continues, and the whole chain joined.

A member who extends a video four times should end with one video, not five pieces: with each
extension's result the bot posts the chain so far (the first video and every extension up to
this one) joined into one clip (`clip_join.py`, in a thread), attached beside the new shot when
it fits the channel's upload limit, else named with links to its shots. The joined file is kept
under `media_dir/results/task-<id>-chain.mp4` (a retry of the post reuses it; retention removes
it with the results). Nothing here can stop the delivery of the paid-for shot: whatever goes
wrong with the joined clip is said in a line instead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.delivery import kept_result
from bot.domain.errors import KlingBotError, TaskNotFound
from bot.domain.i18n import _
from bot.domain.records import TaskRecord
from bot.domain.wording import human_duration, human_sizes_apart, jump_url
from bot.features.clip_join import join_clips
from bot.features.clips import probe_clip
from bot.features.extensions import chain_of
from bot.store import TaskStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExtraFile:
    """A file posted beside the result."""

    path: Path
    filename: str
    description: str


@dataclass(frozen=True, slots=True)
class PostExtras:
    """Lines (and perhaps a file) a result message carries besides the result."""

    lines: tuple[str, ...] = ()
    file: ExtraFile | None = None
    file_line: str = ""  # said when the file is attached
    no_file_line: str = ""  # said instead when it is not

    def text(self, *, is_attached: bool) -> str:
        """The lines to add to the message, for a post with or without the file."""
        last = self.file_line if is_attached else self.no_file_line
        return "\n".join(line for line in (*self.lines, last) if line)


class ResultExtras(Protocol):
    """What the deliverer asks before it posts a result."""

    async def extras(self, task: TaskRecord, upload_limit: int) -> PostExtras:
        """The lines and file to post with this task's result (never raises)."""
        ...


def shot_ref(task: TaskRecord) -> str:
    """`#12`, with a link to its result message when it has one."""
    if task.delivery_message_id is None or task.guild_id is None or task.channel_id is None:
        return f"#{task.id}"
    if task.result_deleted_by is not None:
        return f"#{task.id}"
    return f"#{task.id} ({jump_url(task.guild_id, task.channel_id, task.delivery_message_id)})"


def parent_line(parent: TaskRecord) -> str:
    """The line that links the shot this one continues."""
    return "▶ " + _("The next shot after {task}.").format(task=shot_ref(parent))


def chain_names(chain: list[TaskRecord]) -> str:
    """`#40 → #41 → #43`."""
    return " → ".join(f"#{task.id}" for task in chain)


def joined_lines(
    chain: list[TaskRecord], duration_s: float, size_bytes: int, upload_limit: int
) -> tuple[str, str]:
    """What to say with the joined clip attached, and without it (too large to attach)."""
    names, length = chain_names(chain), human_duration(duration_s)
    attached = "🎞️ " + _(
        "The whole chain, {names}, joined into one {length} clip: attached."
    ).format(names=names, length=length)
    size, limit = human_sizes_apart(size_bytes, upload_limit)
    if size_bytes <= upload_limit:
        too_large = "🎞️ " + _(
            "The whole chain, {names}, joined into one {length} clip: not attached."
        ).format(names=names, length=length)
    else:
        too_large = "🎞️ " + _(
            "The whole chain joined into one {length} clip is {size}, more than this server's "
            "upload limit ({limit}); its shots: {shots}"
        ).format(
            length=length,
            size=size,
            limit=limit,
            shots=" → ".join(shot_ref(task) for task in chain),
        )
    return attached, too_large


class ChainPost:
    """The extras of an extension's result: its parent's link and the joined chain."""

    def __init__(self, store: TaskStore, results_dir: Path) -> None:
        self._store = store
        self._results_dir = results_dir

    async def extras(self, task: TaskRecord, upload_limit: int) -> PostExtras:
        """Nothing for a task that extends nothing; never raises (it is logged)."""
        if task.extends is None:
            return PostExtras()
        try:
            return await self._extras(task, upload_limit)
        except Exception:
            log.warning("could not join the chain %s", task.log_context, exc_info=True)
            return PostExtras(no_file_line="🎞️ " + _("The chain could not be joined into one clip."))

    async def _extras(self, task: TaskRecord, upload_limit: int) -> PostExtras:
        chain = await chain_of(self._store, task)
        try:
            parent = await self._store.get_task(task.extends or 0)
        except TaskNotFound:
            return PostExtras()
        lines = (parent_line(parent),)
        sources = [kept_result(self._results_dir, shot.id) for shot in chain]
        is_kept = await asyncio.to_thread(lambda: [path.is_file() for path in sources])
        missing = [shot for shot, kept in zip(chain, is_kept, strict=True) if not kept]
        if len(chain) < 2 or missing:
            gone = ", ".join(f"#{shot.id}" for shot in missing)
            return PostExtras(
                lines,
                no_file_line="🎞️ "
                + _(
                    "The bot does not have {tasks} on its disk, so the chain was not joined "
                    "into one clip."
                ).format(tasks=gone),
            )
        target = self._results_dir / f"task-{task.id}-chain.mp4"
        try:
            duration_s, how = await asyncio.to_thread(_joined, sources, target)
        except KlingBotError as error:
            return PostExtras(lines, no_file_line=f"🎞️ {error.member_message}")
        size_bytes = await asyncio.to_thread(lambda: target.stat().st_size)
        log.info(
            "chain joined %s shots=%d how=%s size_bytes=%d",
            task.log_context,
            len(chain),
            how,
            size_bytes,
        )
        attached, unattached = joined_lines(chain, duration_s, size_bytes, upload_limit)
        if size_bytes > upload_limit:
            return PostExtras(lines, no_file_line=unattached)
        extra = ExtraFile(
            target,
            f"kling-chain-{task.id}.mp4",
            _("Task #{id}'s chain, {names}, as one video").format(
                id=task.id, names=chain_names(chain)
            ),
        )
        return PostExtras(lines, extra, attached, unattached)


def _joined(sources: list[Path], target: Path) -> tuple[float, str]:
    """The chain joined earlier (by a delivery tried before), or joined now: its length in
    seconds and how it was made."""
    if target.is_file():
        return probe_clip("chain", target).duration_s, "kept"
    joined = join_clips(sources, target)
    return joined.duration_s, joined.mode

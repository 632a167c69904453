"""Delivering results: the contract every destination implements, and the courier that runs it.

A destination (the Discord channel, the terminal's `--out` file, a test's recorder) implements
`Deliverer`. `deliver` must be idempotent per task: after a crash between posting and recording,
the engine calls it again for the same task, and the destination must not post twice (Discord
uses the message nonce and its channel history; files use an atomic rename).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Unpack

from bot.domain.backoff import Backoff
from bot.domain.clock import Clock
from bot.domain.delivery import DeliveryError, ResultFile, kept_result
from bot.domain.errors import ApiError, ApiErrorKind, IllegalTransition
from bot.domain.lifecycle import TaskState
from bot.domain.logs import TaskLogContext, task_scope
from bot.domain.records import TaskRecord, TaskUpdate
from bot.omni.client import OmniClient
from bot.omni.download import ResultTooLarge
from bot.store import TaskStore

log = logging.getLogger(__name__)


class Deliverer(Protocol):
    """A destination for finished videos."""

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Post the result once; return the message id if the destination has one."""
        ...


class SplitDeliverer:
    """Members' tasks go to their channel; tasks started from the command line go to files."""

    def __init__(self, channel: Deliverer, files: Deliverer) -> None:
        self._channel = channel
        self._files = files

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Deliver to wherever the task was asked for."""
        if task.channel_id is None:
            return await self._files.deliver(task, result)
        return await self._channel.deliver(task, result)


class TaskObserver(Protocol):
    """Told about every state change after it was written (status messages, progress lines)."""

    async def task_changed(self, task: TaskRecord) -> None:
        """React to the task's new state; must not raise."""
        ...


class NoObserver:
    """An observer that ignores everything."""

    async def task_changed(self, task: TaskRecord) -> None:
        """Ignore the change."""


class FileDeliverer:
    """Delivers to files: `out_path` for one task, else `<directory>/task-<id>.mp4`."""

    def __init__(self, directory: Path, out_path: Path | None = None) -> None:
        self.directory = directory
        self.out_path = out_path

    def target_for(self, task: TaskRecord) -> Path:
        """Where this task's video is written."""
        return self.out_path or self.directory / f"task-{task.id}.mp4"

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Copy the downloaded MP4 into place atomically (so a repeat is harmless)."""
        if result.path is None:
            raise DeliveryError(
                f"the result is too large to download; it is at {result.url}", permanent=True
            )
        target = self.target_for(task)
        await asyncio.to_thread(_copy_atomically, result.path, target)
        return None


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)


DELIVERY_RETRY = Backoff(initial_s=5.0, max_s=300.0)


@dataclass(frozen=True, slots=True)
class CourierSettings:
    """How results are fetched and how hard delivery tries."""

    results_dir: Path
    max_result_bytes: int
    # A passing failure (Discord or the network away) is retried with a doubling wait (5 s,
    # 10 s, 20 s … 5 min), so the tries span about ten minutes: an outage must not turn a paid
    # video into an undeliverable.
    attempts: int = 8
    retry: Backoff = DELIVERY_RETRY


class Courier:
    """Takes succeeded tasks to their destination: `delivering`, then download, post, record.

    Each channel has its own lane: its results go out one after the other, and a channel that
    is slow (a long rate limit, a big upload, a stalled download) delays only its own.
    """

    def __init__(
        self,
        store: TaskStore,
        client: OmniClient,
        deliverer: Deliverer,
        settings: CourierSettings,
        *,
        clock: Clock,
        on_changed: Callable[[TaskRecord], None],
    ) -> None:
        self._store = store
        self._client = client
        self._deliverer = deliverer
        self._settings = settings
        self._clock = clock
        self._on_changed = on_changed
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: set[int] = set()
        self._active: set[int] = set()  # being delivered right now: never two posts at once
        self._tries: dict[int, int] = {}
        self._lanes: dict[Hashable, deque[int]] = {}  # waiting tasks, per channel
        self._lane_jobs: dict[Hashable, asyncio.Task[None]] = {}
        self._retries: set[asyncio.Task[None]] = set()  # waits before a retry, ended by run()

    def enqueue(self, task_id: int) -> None:
        """Deliver this task soon (ignored if it is already waiting)."""
        if task_id not in self._pending:
            self._pending.add(task_id)
            self._queue.put_nowait(task_id)

    @property
    def waiting(self) -> int:
        """Tasks waiting to be delivered."""
        return len(self._pending)

    async def run_once(self) -> int:
        """Deliver everything waiting now; return how many tasks were handled."""
        handled = 0
        while not self._queue.empty():
            await self._handle(self._queue.get_nowait())
            handled += 1
        return handled

    async def run(self) -> None:
        """Deliver tasks as they come, forever, each channel in its own lane."""
        try:
            while True:
                task_id = await self._queue.get()
                lane = await self._lane_of(task_id)
                self._lanes.setdefault(lane, deque()).append(task_id)
                if lane not in self._lane_jobs:
                    self._lane_jobs[lane] = asyncio.create_task(
                        self._run_lane(lane), name=f"courier-lane-{lane}"
                    )
        finally:
            jobs = [*self._lane_jobs.values(), *self._retries]
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    async def _lane_of(self, task_id: int) -> Hashable:
        """The channel a task's result goes to (None: a file, from the command line)."""
        try:
            return (await self._store.get_task(task_id)).channel_id
        except Exception:
            log.warning("task_id=%s has no readable channel; delivering it apart", task_id)
            return ("unknown", task_id)

    async def _run_lane(self, lane: Hashable) -> None:
        waiting = self._lanes[lane]
        try:
            while waiting:
                await self._handle(waiting.popleft())
        finally:
            # No await between the last look at `waiting` and here: a task queued meanwhile
            # finds no job and starts one.
            del self._lane_jobs[lane]
            if not waiting:
                self._lanes.pop(lane, None)

    async def _handle(self, task_id: int) -> None:
        self._pending.discard(task_id)
        if task_id in self._active:
            self._retry_later(task_id)
            return
        self._active.add(task_id)
        try:
            await self.deliver(task_id)
        except Exception:
            log.exception("delivery crashed %s; trying again later", TaskLogContext.of_id(task_id))
            self._retry_later(task_id)
        finally:
            self._active.discard(task_id)

    def _retry_later(self, task_id: int, tries: int = 1) -> None:
        job = asyncio.create_task(
            self._enqueue_after(self._settings.retry.delay_s(tries), task_id),
            name=f"retry-delivery-{task_id}",
        )
        self._retries.add(job)
        job.add_done_callback(self._retries.discard)

    async def _enqueue_after(self, delay_s: float, task_id: int) -> None:
        await self._clock.sleep(delay_s)
        self.enqueue(task_id)

    async def deliver(self, task_id: int) -> None:
        """One delivery attempt for a task that succeeded (or was being delivered at a crash)."""
        task = await self._store.get_task(task_id)
        with task_scope(task.log_context):  # the download's and the post's lines too
            await self._deliver(task)

    async def _deliver(self, task: TaskRecord) -> None:
        context = task.log_context
        if task.state is TaskState.SUCCEEDED:
            try:
                task = await self._move(task, TaskState.DELIVERING, detail="delivery started")
            except IllegalTransition:
                return  # cancelled in the meantime: never delivered
        elif task.state is not TaskState.DELIVERING:
            return  # delivered or ended meanwhile
        try:
            result = await self._fetch(task)
            if result.path is not None and task.result_path != str(result.path):
                task = await self._move(
                    task,
                    TaskState.DELIVERING,
                    detail="result downloaded",
                    result_path=str(result.path),
                    result_size_bytes=result.size_bytes,
                )
            message_id = await self._deliverer.deliver(task, result)
        except Exception as error:
            # Every failure counts as a try, unexpected ones included (as passing ones): a
            # destination that keeps crashing must end the task, not retry it forever.
            permanent, reason = _delivery_failure(error)
            if not isinstance(error, DeliveryError | ApiError):
                log.exception("delivery crashed %s", context)
            tries = self._tries.get(task.id, 0) + 1
            self._tries[task.id] = tries
            if permanent or tries >= self._settings.attempts:
                log.warning("delivery given up %s: %s", context, reason)
                self._tries.pop(task.id, None)
                await self._move(
                    task,
                    TaskState.UNDELIVERABLE,
                    detail=reason,
                    failure_reason=f"The video was made but could not be posted: {reason}",
                )
                return
            log.info("delivery failed %s (try %d): %s", context, tries, reason)
            self._retry_later(task.id, tries)
            return
        self._tries.pop(task.id, None)
        await self._move(
            task, TaskState.DELIVERED, detail="delivered", delivery_message_id=message_id
        )
        log.info("delivered %s message_id=%s", context, message_id)

    async def _fetch(self, task: TaskRecord) -> ResultFile:
        if task.result_url is None:
            raise DeliveryError("the video service gave no video URL", permanent=True)
        target = kept_result(self._settings.results_dir, task.id)
        if task.result_path is not None and task.result_size_bytes is not None:
            kept = Path(task.result_path)
            size = await asyncio.to_thread(_size_or_none, kept)
            if size == task.result_size_bytes:
                return ResultFile(task.result_url, kept, size)
        try:
            download = await self._client.download(
                task.result_url, target, max_bytes=self._settings.max_result_bytes
            )
        except ResultTooLarge:
            return ResultFile(task.result_url, None, None)
        except OSError as error:
            # The network's errors arrive as ApiError: an OSError here is our own disk (not
            # writable, full, a file where a folder should be). Space may come back: retried.
            why = error.strerror or type(error).__name__
            log.warning(
                "can't save the result %s to %s (%s): check storage.media_dir",
                task.log_context,
                target,
                why,
            )
            raise DeliveryError(
                f"the bot could not save it on its disk ({why}); an admin needs to check "
                "storage.media_dir",
                permanent=False,
            ) from None
        return ResultFile(task.result_url, download.path, download.size_bytes)

    async def _move(
        self, task: TaskRecord, to: TaskState, *, detail: str, **fields: Unpack[TaskUpdate]
    ) -> TaskRecord:
        moved = await self._store.transition(
            task.id, to, now=self._clock.now(), expect=task.state, detail=detail, **fields
        )
        self._on_changed(moved)
        return moved


def _delivery_failure(error: Exception) -> tuple[bool, str]:
    """Whether a failed delivery can never succeed, and the reason in plain words."""
    if isinstance(error, DeliveryError):
        return error.permanent, error.reason
    if isinstance(error, ApiError):
        return error.kind is ApiErrorKind.NOT_FOUND, error.member_message
    return False, f"an unexpected error in the bot ({type(error).__name__})"


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None

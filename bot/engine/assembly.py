"""Assembling the engine from the settings: shared by the bot, `kling-bot submit` and tests.

`build_engine` wires client → engine; `engine_lock` keeps a second process from running tasks on
the same database; `TerminalDeliverer` delivers tasks started from the command line to files.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import aiohttp

from bot.domain.callback_tokens import CallbackSigner
from bot.domain.clock import Clock
from bot.domain.delivery import DeliveryError, ResultFile
from bot.domain.errors import KlingBotError
from bot.domain.records import TaskRecord
from bot.domain.telemetry import Telemetry
from bot.engine.clock import SYSTEM_CLOCK
from bot.engine.courier import Deliverer, FileDeliverer, TaskObserver
from bot.engine.submitter import Prepare
from bot.engine.task_engine import EngineSettings, ForgetInputs, PicksUp, TaskEngine
from bot.engine.tracker import TrackerSettings
from bot.omni.client import OmniClient
from bot.settings import Settings
from bot.store import TaskStore


class EngineBusy(KlingBotError):
    """Another process is running tasks on the same database."""


# -- the engine graph ---------------------------------------------------------------------------


def engine_settings(settings: Settings, *, with_callbacks: bool = False) -> EngineSettings:
    """The engine's settings from the config, in real-world seconds (a faster clock compresses
    them).

    `with_callbacks`: Omni callbacks reach this process, so polling is a sparse safety net.
    """
    timeout = timedelta(minutes=settings.omni.task_timeout_minutes)
    return EngineSettings(
        max_concurrent_tasks=settings.omni.max_concurrent_tasks,
        results_dir=settings.storage.media_dir / "results",
        max_result_bytes=settings.storage.max_result_mb * 1024 * 1024,
        task_timeout=timeout,
        tracker=TrackerSettings(task_timeout=timeout, callbacks=with_callbacks),
        lease=timedelta(seconds=settings.storage.lease_seconds),
    )


def build_client(
    settings: Settings,
    session: aiohttp.ClientSession,
    telemetry: Telemetry | None = None,
    callbacks: CallbackSigner | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> OmniClient:
    """The CometAPI client for the configured base URL and key (and callback URLs, if given);
    its retries wait on `clock`."""
    return OmniClient(
        session,
        settings.omni.base_url,
        settings.omni.api_key.get_secret_value(),
        telemetry=telemetry,
        callback_url_for=None if callbacks is None else callbacks.url_for,
        sleep=clock.sleep,
    )


def build_engine(
    settings: Settings,
    session: aiohttp.ClientSession,
    store: TaskStore,
    deliverer: Deliverer,
    observer: TaskObserver | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    picks_up: PicksUp | None = None,
    prepare: Prepare | None = None,
    forget_inputs: ForgetInputs | None = None,
    telemetry: Telemetry | None = None,
    callbacks: CallbackSigner | None = None,
) -> TaskEngine:
    """The whole queue → API → result → destination path, built from the settings.

    With `callbacks`, every create carries its task's callback URL and polling gets sparse: the
    caller must also serve the callback route (`bot.http.callbacks`). Every wait runs on `clock`.
    """
    return TaskEngine(
        store,
        build_client(settings, session, telemetry, callbacks, clock),
        deliverer,
        engine_settings(settings, with_callbacks=callbacks is not None),
        observer=observer,
        clock=clock,
        picks_up=picks_up,
        prepare=prepare,
        forget_inputs=forget_inputs,
        telemetry=telemetry,
    )


@contextlib.asynccontextmanager
async def engine_lock(database: Path) -> AsyncIterator[None]:
    """Hold the database's engine lock, or raise `EngineBusy`.

    Two engines on one database would each take the other's creates in flight for crashed ones.
    The kernel drops the lock when its process dies, kill -9 included.
    """
    handle = await asyncio.to_thread(_take_lock, database)
    try:
        yield
    finally:
        await asyncio.to_thread(handle.close)  # closing the file releases the lock


def _take_lock(database: Path) -> IO[bytes]:
    path = database.with_name(database.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise EngineBusy(
            f"Another kling-bot process (the bot, or another `kling-bot submit`) is running tasks "
            f"on {database}. Let it finish or stop it, or give --config a file with another "
            "storage.database."
        ) from None
    return handle


class TerminalDeliverer:
    """Writes videos to files: a task's chosen file, else the kept download is the delivery."""

    def __init__(self, results_dir: Path) -> None:
        self._results_dir = results_dir
        self._targets: dict[str, Path] = {}

    def send_to(self, task: TaskRecord, path: Path) -> None:
        """Write this task's video to `path` (before it is delivered)."""
        self._targets[task.external_id] = path

    def target_for(self, task: TaskRecord) -> Path:
        """Where this task's video ends up."""
        return self._targets.get(task.external_id) or self._results_dir / f"task-{task.id}.mp4"

    async def deliver(self, task: TaskRecord, result: ResultFile) -> int | None:
        """Copy the download into place atomically (a repeat after a crash is harmless)."""
        target = self.target_for(task)
        if result.path == target:
            return None  # the kept download is where this video goes
        try:
            return await FileDeliverer(target.parent, target).deliver(task, result)
        except OSError as exc:
            # Counted as a failed try (a crash of the deliverer would be retried forever).
            reason = f"could not write {target}: {exc.strerror or exc}"
            raise DeliveryError(reason, permanent=False) from None

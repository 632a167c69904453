"""One task from the terminal (`kling-bot submit`), through the engine the bot uses.

`run_submit` takes one request through the same store, queue, tracker and
courier the bot uses, reports each change, and writes the video to a file. On SQLite,
`engine_lock` keeps a second process from running tasks on the same file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import SecretStr

from bot.cli.table import progress_line
from bot.domain.clock import Clock
from bot.domain.errors import InvalidInput
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord
from bot.domain.request import OmniRequest, make_request
from bot.domain.wording import human_size
from bot.engine.assembly import TerminalDeliverer, build_engine, engine_lock
from bot.engine.clock import SYSTEM_CLOCK, ScaledClock
from bot.engine.task_engine import PicksUp, utc_now
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from bot.features.media import check_image_file
from bot.settings import OmniSettings, Settings
from bot.store import TaskStore
from bot.store.sql_store import SqlStore

VideoUse = Literal["edit", "reference"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # Kling takes images of at most 10 MB
# The built-in fake makes a video in about four seconds; the engine's waits shrink to match.
FAKE_SUBMITTED_S = 1.0
FAKE_PROCESSING_S = 3.0
FAKE_TIME_SCALE = 0.05  # the built-in fake's tasks take seconds: the engine's clock runs 20× faster
WAIT_POLL_S = 0.25
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG
_STILL_SENDING = (TaskState.QUEUED, TaskState.SUBMITTING)


# -- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    """`kling-bot submit`'s options as typed; None means "not given: use the config"."""

    prompt: str
    model: str | None = None
    mode: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    images: tuple[str, ...] = ()
    first_frame: str | None = None
    end_frame: str | None = None
    elements: tuple[str, ...] = ()
    video: str | None = None
    video_use: VideoUse | None = None
    keep_sound: bool = False
    sound: bool = False
    watermark: bool = False


def is_url(value: str) -> bool:
    """True for an http(s) URL (anything else given as an input is a local path)."""
    return value.lower().startswith(("http://", "https://"))


def request_fields(
    options: SubmitOptions, defaults: OmniSettings, images: Sequence[dict[str, str]]
) -> dict[str, Any]:
    """The request as `make_request` takes it: the options, the config's defaults where they
    apply (no aspect ratio when the input fixes the frame, no duration for an edit), and the
    images already turned into URLs or base64. Raises InvalidInput for a local video."""
    video_use = options.video_use or "edit"
    if options.video is None and (options.video_use is not None or options.keep_sound):
        flag = "--keep-sound" if options.keep_sound else "--video-use"
        raise InvalidInput(f"`{flag}` applies to a `--video`: add one or drop `{flag}`.")
    if options.video is not None and not is_url(options.video):
        raise InvalidInput(
            f"`--video` {options.video}: a local video must be uploaded somewhere reachable "
            "first: give a URL (https://…)."
        )
    is_edit = options.video is not None and video_use == "edit"
    aspect_ratio = options.aspect_ratio
    if aspect_ratio is None and not (is_edit or options.first_frame is not None):
        aspect_ratio = defaults.aspect_ratio
    duration = options.duration
    if duration is None and not is_edit:
        duration = defaults.duration
    fields: dict[str, Any] = {
        "model": options.model or defaults.model,
        "prompt": options.prompt,
        "mode": options.mode or defaults.mode,
        "aspect_ratio": aspect_ratio,
        "duration_s": duration,
        "sound": options.sound,
        "images": list(images),
        "elements": [
            {"element_id": part.strip()}
            for value in options.elements
            for part in value.split(",")
            if part.strip()
        ],
        "watermark": options.watermark,
    }
    if options.video is not None:
        fields["videos"] = [
            {
                "url": options.video,
                "refer_type": "base" if is_edit else "feature",
                "keep_original_sound": options.keep_sound,
            }
        ]
    return fields


async def build_request(options: SubmitOptions, defaults: OmniSettings) -> OmniRequest:
    """Read the local images (off the event loop) and validate the whole request once.

    Raises InvalidInput with the sentence to show; nothing has been stored or sent then.
    """
    images = [{"url": await image_source(value, "--image")} for value in options.images]
    for frame, value in (("first_frame", options.first_frame), ("end_frame", options.end_frame)):
        if value is not None:
            flag = "--" + frame.replace("_", "-")
            images.append({"url": await image_source(value, flag), "frame": frame})
    return make_request(request_fields(options, defaults, images))


async def image_source(value: str, flag: str) -> str:
    """A URL as given, or a local JPEG/PNG file as raw base64 (no `data:` prefix)."""
    if is_url(value):
        return value
    data = await asyncio.to_thread(_read_image, value, flag)
    return base64.b64encode(data).decode("ascii")


def _read_image(value: str, flag: str) -> bytes:
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInput(f"`{flag}` {path}: no such file. Give a .jpg or .png file, or a URL.")
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise InvalidInput(
                f"`{flag}` {path.name} is {human_size(size)}: images may be at most "
                f"{human_size(MAX_IMAGE_BYTES)}."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"`{flag}` {path}: can't be read ({exc.strerror or exc}).") from None
    if not data.startswith(_IMAGE_MAGIC):
        raise InvalidInput(f"`{flag}` {path.name} is not a JPEG or PNG image: use .jpg or .png.")
    check_image_file(path, f"{flag} {path.name}")
    return data


# -- the command line's side of the engine -----------------------------------------------------


def command_line_scope(only: set[str] | None = None) -> PicksUp:
    """The tasks `submit`'s engine takes care of: command-line ones (or just `only`).

    Members' tasks in the same database wait for the bot (delivering them here would put their
    videos in files, not in their channels). The built-in fake knows no earlier task, so with it
    the engine picks up only the task it was started for.
    """

    def picks_up(external_id: str, user_id: int | None) -> bool:
        if only is not None:
            return external_id in only
        return user_id is None

    return picks_up


class ProgressPrinter:
    """An observer that turns state changes into progress lines, one per change worth telling."""

    def __init__(
        self, emit: Callable[[str], None], target_for: Callable[[TaskRecord], Path]
    ) -> None:
        self._emit = emit
        self._target_for = target_for
        self._last_line: dict[int, str] = {}
        self._last_state: dict[int, TaskState] = {}

    async def task_changed(self, task: TaskRecord) -> None:
        """Print the task's new state (once)."""
        self._last_state[task.id] = task.state
        self._show(task)

    def progress(self, task: TaskRecord) -> None:
        """Print a newer progress figure of a task already reported as processing."""
        if task.state is TaskState.PROCESSING and self._last_state.get(task.id) is task.state:
            self._show(task)

    def _show(self, task: TaskRecord) -> None:
        line = progress_line(task, self._target_for(task))
        if line is not None and line != self._last_line.get(task.id):
            self._last_line[task.id] = line
            self._emit(line)


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """How `run_submit` left its task."""

    task: TaskRecord  # as it was when the command stopped
    target: Path  # where its video is (or will be) written
    was_interrupted: bool


async def run_submit(
    settings: Settings,
    request: OmniRequest,
    *,
    wait: bool,
    out: Path | None,
    on_progress: Callable[[str], None],
    use_fake: bool = False,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> SubmitOutcome:
    """Queue one command-line task and run the engine until it is at the API, or with `wait`
    until it has ended. SIGINT/SIGTERM (or `stop`) end the wait early; the task stays resumable.

    Earlier command-line tasks left unfinished are resumed on the way. The engine runs on `clock`
    (default: the system's, or a faster one on the built-in fake). Raises EngineBusy.
    """
    async with contextlib.AsyncExitStack() as stack:
        if use_fake:
            settings = await stack.enter_async_context(fake_api(settings))
        if clock is None:
            clock = ScaledClock(FAKE_TIME_SCALE) if use_fake else SYSTEM_CLOCK
        if isinstance(settings.storage.database, Path):  # PostgreSQL: shared by processes
            await stack.enter_async_context(engine_lock(settings.storage.database))
        store = await SqlStore.open(settings.storage.database)
        stack.push_async_callback(store.close)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        deliverer = TerminalDeliverer(settings.storage.media_dir / "results")
        printer = ProgressPrinter(on_progress, deliverer.target_for)
        new = NewTask(origin="cli", request=request, cost=0)
        scope = command_line_scope({new.external_id} if use_fake else None)
        engine = build_engine(
            settings, session, store, deliverer, printer, clock=clock, picks_up=scope
        )
        resumed = sum((await engine.start()).values())
        if resumed:
            on_progress(f"resuming {resumed} unfinished command-line task(s)")
        try:
            task = await engine.enqueue(new)
            is_dir = out is not None and await asyncio.to_thread(out.is_dir)
            target = out_path(out, task.id, is_dir=is_dir)
            deliverer.send_to(task, target)
            stop = stop or asyncio.Event()
            with _stop_on_signals(stop):
                task, was_interrupted = await _wait(store, task.id, wait, stop, printer)
        finally:
            await engine.stop()
        if use_fake and was_interrupted:
            task = await _abandon(store, task.id)
        return SubmitOutcome(task, target, was_interrupted)
    raise AssertionError("unreachable: the exit stack does not swallow exceptions")


def out_path(out: Path | None, task_id: int, *, is_dir: bool) -> Path:
    """`--out` as given, `task-<id>.mp4` inside it when it is a directory, else in the cwd."""
    name = f"task-{task_id}.mp4"
    if out is None:
        return Path(name)
    return out / name if is_dir else out


async def _wait(
    store: TaskStore, task_id: int, until_end: bool, stop: asyncio.Event, printer: ProgressPrinter
) -> tuple[TaskRecord, bool]:
    while True:
        task = await store.get_task(task_id)
        if task.is_terminal or (not until_end and task.state not in _STILL_SENDING):
            return task, False
        if stop.is_set():
            return task, True
        printer.progress(task)  # progress figures change without a state change
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WAIT_POLL_S)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def first_signal() -> None:
        stop.set()
        for signum in installed:  # a second Ctrl-C interrupts at once
            loop.remove_signal_handler(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, first_signal)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _abandon(store: TaskStore, task_id: int) -> TaskRecord:
    """End a task made on the built-in fake: the fake is gone with this command."""
    task = await store.get_task(task_id)
    if task.is_terminal:
        return task
    to = (
        TaskState.UNDELIVERABLE
        if task.state in (TaskState.SUCCEEDED, TaskState.DELIVERING)
        else TaskState.FAILED
    )
    return await store.transition(
        task.id,
        to,
        now=utc_now(),
        expect=task.state,
        detail="stopped on the built-in fake API",
        failure_reason="Stopped before the end; the built-in fake API it ran on stopped too.",
    )


@contextlib.asynccontextmanager
async def fake_api(settings: Settings) -> AsyncIterator[Settings]:
    """Run the built-in fake CometAPI on a free loopback port; yield settings that use it, and
    a database and media folder of their own, removed afterwards: a try on the fake never
    writes into the real database (nor waits for the bot's lock on it)."""
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="kling-bot-fake-"))
    fake = FakeCometAPI(
        FakeCometConfig(submitted_s=FAKE_SUBMITTED_S, processing_s=FAKE_PROCESSING_S)
    )
    try:
        await fake.start("127.0.0.1", 0)
        try:
            omni = settings.omni.model_copy(
                update={"base_url": fake.base_url, "api_key": SecretStr(fake.config.api_key)}
            )
            storage = settings.storage.model_copy(
                update={"database": scratch / "kling-bot.sqlite3", "media_dir": scratch / "media"}
            )
            yield settings.model_copy(update={"omni": omni, "storage": storage})
        finally:
            await fake.stop()
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True)

"""`kling-bot submit` and `kling-bot tasks`: the console script against the fake CometAPI.

The end-to-end tests run the installed console script as a subprocess, with a config file that
points at a fake started by the test, as an operator would; the rest call the same code in-process.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.cli.main import main
from bot.cli.submit import (
    SubmitOptions,
    build_request,
    out_path,
    request_fields,
    run_submit,
)
from bot.cli.table import progress_line, render_tasks
from bot.domain.errors import InvalidInput
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import make_request
from bot.engine.assembly import EngineBusy, build_engine, engine_lock
from bot.engine.courier import FileDeliverer
from bot.fakes.comet import SAMPLE_PNG, FakeCometAPI, FakeCometConfig
from bot.fakes.harness import fast_clock_of
from bot.settings import OmniSettings, Settings
from bot.store.sql_store import SqlStore
from tests.helpers.engine import creates_per_task
from tests.helpers.images import cut_short, noise_image, one_bit_png
from tests.helpers.tasks import CREATED, make_task

KEY = "sk-test-Recognisable-Secret-7f3a9c"
KLING_BOT = str(Path(sys.executable).with_name("kling-bot"))
DURATION_SENTENCE = "`duration` 7 is not allowed for text-to-video on kling-video-o1: use 5 or 10."
SCALE = 0.01  # the engine's time runs 100× faster in in-process runs
PROCESS_TIMEOUT_S = 60


# -- helpers ---------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def clean_env() -> dict[str, str]:
    """The test's environment without anything that would configure the bot behind its back."""
    hidden = ("COMETAPI_KEY", "DISCORD_TOKEN", "KLING_BOT_CONFIG")
    return {name: value for name, value in os.environ.items() if name not in hidden}


async def start(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        KLING_BOT,
        *args,
        cwd=cwd,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, early_stdout: str = "") -> Run:
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, early_stdout + stdout.decode(), stderr.decode())


async def kling_bot(*args: str, cwd: Path) -> Run:
    return await finish(await start(*args, cwd=cwd))


def write_config(directory: Path, fake: FakeCometAPI) -> Path:
    """A config an operator would write: the key, the API's address, relative storage paths."""
    path = directory / "config.toml"
    path.write_text(
        f'[omni]\napi_key = "{KEY}"\nbase_url = "{fake.base_url}"\n\n'
        '[storage]\ndatabase = "data/bot.sqlite3"\nmedia_dir = "data/media"\n',
        encoding="utf-8",
    )
    return path


def settings_for(directory: Path, fake: FakeCometAPI) -> Settings:
    return Settings.model_validate(
        {
            "omni": {"api_key": KEY, "base_url": fake.base_url},
            "storage": {
                "database": str(directory / "bot.sqlite3"),
                "media_dir": str(directory / "media"),
            },
        }
    )


def is_mp4(path: Path) -> bool:
    return path.read_bytes()[4:8] == b"ftyp"


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    config = FakeCometConfig(api_key=KEY, submitted_s=0.2, processing_s=0.8)
    async with FakeCometAPI(config) as server:
        yield server


@pytest.fixture
def operator_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment that configures nothing."""
    for name in ("COMETAPI_KEY", "DISCORD_TOKEN", "KLING_BOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the console script, end to end --------------------------------------------------------------


async def test_a_refused_request_exits_2_and_sends_nothing(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    config = write_config(tmp_path, fake)
    run = await kling_bot(
        "submit", "a boat", "--duration", "7", "--config", str(config), cwd=tmp_path
    )
    assert run.code == 2
    assert run.stderr.strip() == f"✗ {DURATION_SENTENCE}"
    assert fake.requests == []
    assert not (tmp_path / "data").exists(), "nothing is stored for a refused request"


@pytest.mark.slow
async def test_submit_waits_survives_ctrl_c_and_resumes(tmp_path: Path, fake: FakeCometAPI) -> None:
    config = str(write_config(tmp_path, fake))
    # 1. Ctrl-C while waiting: the task stays in the database.
    first = await start("submit", "a first boat", "--wait", "--config", config, cwd=tmp_path)
    assert first.stdout is not None
    seen = ""
    while "submitted (api task" not in seen:
        line = await asyncio.wait_for(first.stdout.readline(), PROCESS_TIMEOUT_S)
        assert line, "the process ended before submitting"
        seen += line.decode()
    first.send_signal(signal.SIGINT)
    stopped = await finish(first, seen)
    assert stopped.code == 130
    assert f"Task #1 (submitted) stays in {tmp_path / 'data' / 'bot.sqlite3'}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    # 2. The next submit resumes it and delivers both; -v logs everything that happens.
    second = await kling_bot(
        "submit",
        "a paper boat in the rain",
        "--wait",
        "--out",
        "boat.mp4",
        "--config",
        config,
        "-v",
        cwd=tmp_path,
    )
    assert second.code == 0, second.stderr
    assert "resuming 1 unfinished command-line task(s)" in second.stdout
    assert "task #1 delivered → data/media/results/task-1.mp4" in second.stdout
    assert second.stdout.rstrip().endswith("task #2 delivered → boat.mp4 (38.5 KiB)")
    assert is_mp4(tmp_path / "boat.mp4")
    assert is_mp4(tmp_path / "data/media/results/task-1.mp4")
    # 3. `tasks` shows what happened to both.
    listed = await kling_bot("tasks", "--config", config, cwd=tmp_path)
    assert listed.code == 0
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:3] == ["id", "state", "origin"]
    assert [row.split()[:3] for row in rows[2:]] == [
        ["2", "delivered", "cli"],
        ["1", "delivered", "cli"],
    ]
    assert creates_per_task(fake) == dict.fromkeys(creates_per_task(fake), 1)
    assert len(fake.accepted_creates()) == 2
    for run in (stopped, second, listed):
        assert KEY not in run.stdout + run.stderr


@pytest.mark.slow
async def test_fake_works_offline_and_never_touches_the_real_database(operator_dir: Path) -> None:
    """A try on the built-in fake uses a database of its own: the real one (here the default
    storage.database, with one task in it, and held by a running bot) is neither written nor
    waited for."""
    real = operator_dir / "data" / "kling-bot.sqlite3"
    real.parent.mkdir()
    store = await SqlStore.open(real)
    try:
        await store.create_task(
            NewTask(
                origin="cli",
                request=make_request({"prompt": "real", "aspect_ratio": "1:1"}),
                cost=0,
            ),
            now=CREATED,
        )
    finally:
        await store.close()
    before = real.read_bytes()
    async with engine_lock(real):  # the bot runs on the real database meanwhile
        run = await kling_bot(
            "submit",
            "a paper boat in the rain",
            "--fake",
            "--wait",
            "--out",
            "boat.mp4",
            cwd=operator_dir,
        )
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "task #1 queued"
    assert is_mp4(operator_dir / "boat.mp4")
    assert real.read_bytes() == before
    assert sorted(p.name for p in real.parent.iterdir()) == [
        "kling-bot.sqlite3",
        "kling-bot.sqlite3.lock",
    ]  # no media folder, no results: the fake's went with it
    listed = await kling_bot("tasks", cwd=operator_dir)
    (row,) = listed.stdout.splitlines()[2:]
    assert row.split()[:5] == ["1", "queued", "cli", "cli", "real"]


# -- the console script's refusals (in-process) --------------------------------------------------


def test_a_missing_key_is_refused(operator_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "a boat"]) == 2
    err = capsys.readouterr().err
    assert "omni.api_key is empty: set COMETAPI_KEY or omni.api_key" in err
    assert "--fake" in err
    assert not (operator_dir / "data").exists()


def test_an_unknown_status_lists_the_states(
    operator_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tasks", "--status", "done"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'done' is not a task state: use one of queued, submitting," in err
    assert "timed_out, ambiguous, undeliverable" in err


def test_out_needs_wait(operator_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["submit", "a boat", "--out", "boat.mp4"])
    assert exited.value.code == 2
    assert "--out needs --wait" in capsys.readouterr().err


def test_tasks_without_a_database(operator_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"No tasks: there is no database at {operator_dir / 'data' / 'kling-bot.sqlite3'} "
        "(storage.database) yet; the bot or `kling-bot submit` creates it. Another config? "
        "Give --config PATH."
    )
    assert not (operator_dir / "data").exists(), "listing must not create a database"


def test_a_local_video_is_refused(
    operator_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMETAPI_KEY", KEY)
    assert main(["submit", "edit <<<video_1>>>", "--video", "clip.mp4"]) == 2
    out = capsys.readouterr()
    assert "a local video must be uploaded somewhere reachable first: give a URL" in out.err
    assert KEY not in out.out + out.err


# -- the request from the options -------------------------------------------------------------


DEFAULTS = OmniSettings(model="kling-v3-omni", mode="pro", aspect_ratio="9:16", duration=7)


def test_the_config_fills_what_was_not_given() -> None:
    fields = request_fields(SubmitOptions("a boat"), DEFAULTS, [])
    request = make_request(fields)
    assert (request.model, request.mode, request.aspect_ratio, request.duration_s) == (
        "kling-v3-omni",
        "pro",
        "9:16",
        7,
    )
    given = SubmitOptions("a boat", model="kling-video-o1", mode="std", duration=10)
    assert make_request(request_fields(given, DEFAULTS, [])).duration_s == 10


def test_a_first_frame_or_an_edit_fixes_the_frame() -> None:
    frame = [{"url": "https://example.com/a.png", "frame": "first_frame"}]
    with_frame = make_request(
        request_fields(SubmitOptions("a boat", first_frame="x"), DEFAULTS, frame)
    )
    assert with_frame.aspect_ratio is None
    assert with_frame.duration_s == 7
    edit = SubmitOptions("make it snow in <<<video_1>>>", video="https://example.com/v.mp4")
    edited = make_request(request_fields(edit, DEFAULTS, []))
    assert (edited.aspect_ratio, edited.duration_s) == (None, None)
    assert edited.videos[0].refer_type == "base"
    follow = replace(edit, video_use="reference", keep_sound=True)
    followed = make_request(request_fields(follow, DEFAULTS, []))
    assert (followed.aspect_ratio, followed.duration_s) == ("9:16", 7)
    assert followed.videos[0].refer_type == "feature"
    assert followed.videos[0].keep_original_sound


def test_video_options_need_a_video() -> None:
    with pytest.raises(InvalidInput, match="`--keep-sound` applies to a `--video`"):
        request_fields(SubmitOptions("a boat", keep_sound=True), DEFAULTS, [])


def test_elements_may_be_repeated_or_comma_separated() -> None:
    options = SubmitOptions("<<<element_1>>> and <<<element_3>>>", elements=("11", "22, 33"))
    request = make_request(request_fields(options, DEFAULTS, []))
    assert [e.element_id for e in request.elements] == [11, 22, 33]


async def test_local_images_are_sent_as_raw_base64(tmp_path: Path) -> None:
    options = SubmitOptions(
        "<<<image_1>>> at sea", images=(str(SAMPLE_PNG),), first_frame=str(SAMPLE_PNG)
    )
    request = await build_request(options, DEFAULTS)
    expected = base64.b64encode(SAMPLE_PNG.read_bytes()).decode()
    assert [image.url for image in request.images] == [expected, expected]
    assert [image.frame for image in request.images] == [None, "first_frame"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"hello", "is not a JPEG or PNG image"),
        (11 * 1024 * 1024, "is 11 MiB: images may be at most 10 MiB."),
        (cut_short(noise_image(640, 480)), "`--image picture.png` is not a readable PNG or JPEG"),
        (one_bit_png(15000, 15000), r"15000×15000 px \(225 megapixels\); images may have at"),
    ],
    ids=["missing", "not-an-image", "too-large", "cut-short", "huge-pixels"],
)
async def test_bad_local_images_are_refused(
    tmp_path: Path, content: bytes | int | None, message: str
) -> None:
    path = tmp_path / "picture.png"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, int):
        with path.open("wb") as handle:
            handle.truncate(content)  # sparse: the size is checked before anything is read
    with pytest.raises(InvalidInput, match=message):
        await build_request(SubmitOptions("a boat", images=(str(path),)), DEFAULTS)


def test_out_path() -> None:
    assert out_path(None, 7, is_dir=False) == Path("task-7.mp4")
    assert out_path(Path("boat.mp4"), 7, is_dir=False) == Path("boat.mp4")
    assert out_path(Path("videos"), 7, is_dir=True) == Path("videos/task-7.mp4")


# -- the engine as `submit` runs it (in-process, compressed time) -------------------------------


def quiet(line: str) -> None:
    """Progress lines are not under test here."""


async def test_members_tasks_wait_for_the_bot(tmp_path: Path, fake: FakeCometAPI) -> None:
    settings = settings_for(tmp_path, fake)
    request = make_request({"prompt": "a member's boat", "aspect_ratio": "1:1"})
    async with await SqlStore.open(settings.storage.database) as store:
        member = await store.create_task(
            NewTask("discord", request, 1, guild_id=1, channel_id=2, user_id=3),
            now=datetime.now(UTC),
        )
    outcome = await run_submit(
        settings,
        request,
        wait=True,
        out=tmp_path / "boat.mp4",
        on_progress=quiet,
        clock=fast_clock_of(fake, SCALE),
    )
    assert outcome.task.state is TaskState.DELIVERED
    assert is_mp4(tmp_path / "boat.mp4")
    async with await SqlStore.open(settings.storage.database) as store:
        assert (await store.get_task(member.id)).state is TaskState.QUEUED  # left for the bot
    assert list(creates_per_task(fake)) == [outcome.task.external_id]


async def test_a_second_engine_on_one_database_is_refused(
    tmp_path: Path, fake: FakeCometAPI
) -> None:
    settings = settings_for(tmp_path, fake)
    request = make_request({"prompt": "a boat", "aspect_ratio": "1:1"})
    async with engine_lock(settings.storage.database):
        with pytest.raises(EngineBusy, match="Another kling-bot process"):
            await run_submit(settings, request, wait=True, out=None, on_progress=quiet)
    assert fake.requests == []
    async with engine_lock(settings.storage.database):
        pass  # released again


async def test_an_unwritable_out_ends_with_the_reason(tmp_path: Path, fake: FakeCometAPI) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    lines: list[str] = []
    outcome = await run_submit(
        settings_for(tmp_path, fake),
        make_request({"prompt": "a boat", "aspect_ratio": "1:1"}),
        wait=True,
        out=tmp_path / "blocker" / "boat.mp4",
        on_progress=lines.append,
        clock=fast_clock_of(fake, SCALE),
    )
    assert outcome.task.state is TaskState.UNDELIVERABLE
    assert outcome.task.failure_reason is not None
    assert "could not write" in outcome.task.failure_reason
    assert lines[-1].startswith("task #1 undeliverable: The video was made but could not be posted")


async def test_an_interrupted_task_on_the_built_in_fake_is_ended(tmp_path: Path) -> None:
    """The fake dies with the command, so nothing could ever finish the task: it is ended."""
    stop = asyncio.Event()

    def stop_once_submitted(line: str) -> None:
        if "submitted (api task" in line:
            stop.set()

    settings = Settings.model_validate(
        {"storage": {"database": str(tmp_path / "bot.sqlite3"), "media_dir": str(tmp_path)}}
    )
    outcome = await run_submit(
        settings,
        make_request({"prompt": "a boat", "aspect_ratio": "1:1"}),
        wait=True,
        out=None,
        on_progress=stop_once_submitted,
        use_fake=True,
        stop=stop,
    )
    assert outcome.was_interrupted
    assert outcome.task.state is TaskState.FAILED
    assert outcome.task.failure_reason is not None
    assert "built-in fake API" in outcome.task.failure_reason


async def test_no_poll_outlives_the_engine(tmp_path: Path, fake: FakeCometAPI) -> None:
    """`submit` closes the store and the session right after `engine.stop()`."""

    def polls() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("poll-")]

    settings = settings_for(tmp_path, fake)
    async with await SqlStore.open(settings.storage.database) as store:
        async with aiohttp.ClientSession() as session:
            engine = build_engine(
                settings,
                session,
                store,
                FileDeliverer(tmp_path / "out"),
                clock=fast_clock_of(fake, SCALE),
            )
            await engine.start()
            task = await engine.enqueue(
                NewTask("cli", make_request({"prompt": "a boat", "aspect_ratio": "1:1"}), 0)
            )
            fake.config.latency_s = 0.5  # from now on every poll is still in flight for a while
            for _ in range(int(PROCESS_TIMEOUT_S / 0.01)):
                if polls():
                    break
                await asyncio.sleep(0.01)
            assert polls(), "no poll started"
            await engine.stop()
            assert polls() == []
        assert not (await store.get_task(task.id)).is_terminal  # it stays resumable


# -- what the terminal shows -----------------------------------------------------------------


def test_the_task_table() -> None:
    failed = make_task(
        id=12,
        state=TaskState.FAILED,
        api_task_id="878123456789012345",
        finished_at=CREATED + timedelta(minutes=2, seconds=5),
        failure_reason="Failure to pass the risk control system " * 3,
    )
    running = make_task(
        id=9,
        origin="cli",
        guild_id=None,
        channel_id=None,
        user_id=None,
        state=TaskState.PROCESSING,
        progress_pct=30,
    )
    named = make_task(
        id=13,
        state=TaskState.DELIVERED,
        user_name="Alice Liddell",
        request={
            "prompt": "a paper\nboat  drifting down a long river at dusk",
            "aspect_ratio": "1:1",
        },
        api_task_id="878123456789012345678901",
        finished_at=CREATED + timedelta(minutes=1),
        delivery_message_id=555,
    )
    table = render_tasks([named, failed, running], now=CREATED + timedelta(seconds=45))
    lines = table.splitlines()
    assert lines[0].split() == [
        "id",
        "state",
        "origin",
        "who",
        "prompt",
        "request",
        "created",
        "(UTC)",
        "took",
        "api",
        "task",
        "result",
    ]
    assert set(lines[1]) == {"-", " "}
    # The member's name where it was stored, the prompt on one line and cut, the API id whole.
    assert "13  delivered   discord  Alice Liddell  a paper boat drifting down a…" in lines[2]
    assert "878123456789012345678901  message 555" in lines[2]
    assert "12  failed      discord  111/333        a paper boat in the rain" in lines[3]
    assert "kling-video-o1 std 5s  2026-03-01 12:00  2 min 5 s" in lines[3]
    assert "  878123456789012345  " in lines[3]
    assert lines[3].endswith("…") and len(lines[3].split("878123456789012345")[1].strip()) <= 48
    assert " 9  processing  cli      cli" in lines[4]
    assert "45 s…" in lines[4] and lines[4].endswith("30%")


def test_progress_lines() -> None:
    assert progress_line(make_task()) == "task #42 queued"
    assert progress_line(make_task(attempts=1)) == "task #42 back in the queue, to be sent again"
    submitted = make_task(state=TaskState.SUBMITTED, api_task_id="8781")
    assert progress_line(submitted) == "task #42 submitted (api task 8781)"
    assert progress_line(make_task(state=TaskState.PROCESSING, progress_pct=30)) == (
        "task #42 processing 30%"
    )
    assert progress_line(make_task(state=TaskState.SUCCEEDED)) == "task #42 succeeded — downloading"
    assert progress_line(make_task(state=TaskState.DELIVERING)) is None
    delivered = make_task(state=TaskState.DELIVERED, result_size_bytes=1258291)
    assert progress_line(delivered, Path("boat.mp4")) == "task #42 delivered → boat.mp4 (1.2 MiB)"
    timed_out = make_task(state=TaskState.TIMED_OUT, failure_reason="Not ready after 30 minutes.")
    assert progress_line(timed_out) == "task #42 timed out: Not ready after 30 minutes."


@pytest.mark.parametrize(
    "text",
    [
        '[discord]\ntoken = ["MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.Zm9vYmFyYmF6cXV4cXV1eGNv"]\n',
        f'[omni]\napi_key = {{ key = "{KEY}" }}\n',
        f'[omni]\nbase_url = "{KEY}"\n',
    ],
    ids=["token-list", "key-table", "key-in-base_url"],
)
def test_check_never_echoes_a_secret(
    operator_dir: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (operator_dir / "config.toml").write_text(text, encoding="utf-8")
    assert main(["check"]) == 2
    out = capsys.readouterr()
    for secret in (KEY, "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ", "GhIjKl"):
        assert secret not in out.out + out.err
    assert "so not shown" in out.err

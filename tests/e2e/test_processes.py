"""The product as an operator runs it: console scripts in their own processes, fakes on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.engine.pause_points import BEFORE_ANSWER, BEFORE_RELEASE, ENVIRONMENT_KEY
from bot.engine.task_engine import UNCONFIRMED_REASON
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import Attachment, InteractionHandle
from bot.fakes.discord.testing import replies_to, reply_to
from bot.fakes.harness import BotProcess, config_toml
from bot.settings import Settings
from bot.store.sql_store import SqlStore
from tests.helpers.images import png

pytestmark = pytest.mark.slow
SETTLE_S = 60  # a guard against hangs, not a speed assertion


@pytest.mark.parametrize("extra", [[], ["--video"]], ids=["text", "edit"])
async def test_the_demo_runs_offline_and_writes_a_playable_mp4(
    tmp_path: Path, extra: list[str]
) -> None:
    out = tmp_path / "demo.mp4"
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli.main",
        "demo",
        "--out",
        str(out),
        *extra,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(demo.communicate(), SETTLE_S)
    text = stdout.decode()
    assert demo.returncode == 0, stderr.decode()
    assert "alice types: /video" in text
    assert "your video is ready" in text
    assert f"is at {out}" in text
    assert out.read_bytes()[4:8] == b"ftyp"
    if extra:
        assert "video:my-clip.mp4" in text
        assert "checked copy of the clip on the status message: kling-clip-1.mp4" in text


async def test_run_stops_cleanly_on_sigterm_and_resumes_without_losing_the_task(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    bot_settings: Settings,
    bot_process: BotProcess,
) -> None:
    # The video renders until the test finishes it: the SIGTERM always lands mid-task.
    fake_comet.set_timings(processing_s=float("inf"))
    gateway = fake_discord.gateway
    await gateway.wait_for(lambda: gateway.is_connected, SETTLE_S)  # comes up after the sync
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a lighthouse in a storm")
    await itx.wait_ack()
    assert itx.original is not None
    status_id = itx.original.id
    while not fake_comet.accepted_creates():
        await asyncio.sleep(0.05)
    assert await bot_process.stop() == 0  # SIGTERM mid-task: the video is still rendering
    assert replies_to(fake_discord, status_id) == []

    restarted = BotProcess(bot_process.config)
    await restarted.start()
    try:
        assert "resumed 1 unfinished tasks" in await restarted.wait_for_line("engine started")
        (api_task_id,) = fake_comet.tasks
        fake_comet.finish(api_task_id)
        # `delivered` is written after the post: from then on nothing posts it again.
        await restarted.wait_for_line("delivered task_id=", timeout_s=SETTLE_S)
    finally:
        assert await restarted.stop() == 0
    (result,) = replies_to(fake_discord, status_id)  # the bot is gone: this is final
    assert result.attachments and result.attachments[0].filename.endswith(".mp4")
    assert len(fake_comet.accepted_creates()) == 1
    token = bot_settings.discord.token.get_secret_value()
    assert not any(token in line for line in bot_process.output + restarted.output)


async def kill_at(
    fake_discord: FakeDiscord, config: Path, point: str, command: Callable[[], Awaitable[object]]
) -> str:
    """Start the bot with a test pause point armed, run `command`, SIGKILL the bot once the
    pause point is reached; return the line that said so."""
    paused = BotProcess(config, environment={ENVIRONMENT_KEY: point})
    await paused.start()
    try:
        gateway = fake_discord.gateway
        await gateway.wait_for(lambda: gateway.is_connected, timeout_s=SETTLE_S)
        await command()
        line = await paused.wait_for_line(f"TEST PAUSE POINT {point}", timeout_s=SETTLE_S)
        assert await paused.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        await paused.kill()
    return line


async def only_task(settings: Settings) -> TaskRecord:
    async with await SqlStore.open(settings.storage.database) as store:
        (task,) = await store.list_tasks()
        return task


async def ledger_sum(settings: Settings, task_id: int) -> int:
    async with await SqlStore.open(settings.storage.database) as store:
        return sum(entry.credits for entry in await store.ledger_for_task(task_id))


async def test_a_kill_9_before_the_answer_withdraws_the_charged_task_at_the_next_start(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    bot_settings: Settings,
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_toml(bot_settings), encoding="utf-8")
    alice = fake_discord.member(fake_discord.default.alice)
    handles: list[InteractionHandle] = []

    async def video() -> None:
        handles.append(
            await alice.run(
                "video", prompt="<<<image_1>>> sails", image_1=Attachment("a.png", png(400, 400))
            )
        )

    await kill_at(fake_discord, config, BEFORE_ANSWER, video)
    # Killed between the charge and the answer: charged, held, never answered.
    task = await only_task(bot_settings)
    assert task.state is TaskState.QUEUED and task.is_held
    assert await ledger_sum(bot_settings, task.id) == 1
    assert handles[0].ack is None

    restarted = BotProcess(config)
    await restarted.start()  # resume (and so the withdrawal) happens before the sync
    try:
        task = await only_task(bot_settings)
        assert task.state is TaskState.REJECTED
        assert task.failure_reason == UNCONFIRMED_REASON
        assert await ledger_sum(bot_settings, task.id) == 0
    finally:
        assert await restarted.stop() == 0
    assert fake_comet.creates() == []  # never sent, with or without its unchecked CDN image


async def test_a_kill_9_after_the_answer_before_the_release_withdraws_and_forgets_the_inputs(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    bot_settings: Settings,
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_toml(bot_settings), encoding="utf-8")
    alice = fake_discord.member(fake_discord.default.alice)
    handles: list[InteractionHandle] = []

    async def video() -> None:
        handle = await alice.run(
            "video", prompt="<<<image_1>>> sails", image_1=Attachment("a.png", png(400, 400))
        )
        handles.append(handle)
        await handle.wait_ack()

    await kill_at(fake_discord, config, BEFORE_RELEASE, video)
    status = handles[0].original
    assert status is not None
    task = await only_task(bot_settings)
    assert task.state is TaskState.QUEUED and task.is_held
    assert task.status_message_id == status.id
    inputs = bot_settings.storage.media_dir / "inputs" / str(task.id)
    assert (inputs / "image_1.png").is_file()  # kept before the kill

    restarted = BotProcess(config)
    await restarted.start()
    try:
        task = await only_task(bot_settings)
        assert task.state is TaskState.REJECTED
        assert await ledger_sum(bot_settings, task.id) == 0
        assert not inputs.exists()

        async def status_says_withdrawn() -> None:
            while "withdrawn" not in str(fake_discord.message(status.id).embeds):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(status_says_withdrawn(), SETTLE_S)
        assert "refunded" in str(fake_discord.message(status.id).embeds)
    finally:
        assert await restarted.stop() == 0
    assert fake_comet.creates() == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "bot_config",
    [
        {
            "logging": {"format": "json", "level": "info"},
            "http": {"listen": f"127.0.0.1:{free_port()}"},
        }
    ],
)
async def test_run_logs_json_and_answers_health_checks(
    fake_discord: FakeDiscord, bot_settings: Settings, bot_process: BotProcess
) -> None:
    gateway = fake_discord.gateway
    await gateway.wait_for(lambda: gateway.is_connected, timeout_s=SETTLE_S)
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a lighthouse in a storm")
    await itx.wait_ack()
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id, timeout_s=SETTLE_S)
    await bot_process.wait_for_line('"message": "delivered ')
    health = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli.main", "health", "--config", str(bot_process.config)
    )
    assert await asyncio.wait_for(health.wait(), SETTLE_S) == 0  # Docker's HEALTHCHECK
    assert await bot_process.stop() == 0
    entries = [json.loads(line) for line in "".join(bot_process.output).splitlines() if line]
    assert {e["level"] for e in entries} <= {"INFO", "WARNING", "ERROR"}
    [delivered] = [e for e in entries if e["message"].startswith("delivered ")]
    assert delivered["user_id"] == fake_discord.default.alice.id
    assert delivered["channel_id"] == fake_discord.default.general.id

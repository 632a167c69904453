"""The product as an operator runs it: console scripts in their own processes, fakes on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import replies_to, reply_to
from bot.fakes.harness import BotProcess
from bot.settings import Settings

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
        "bot.cli",
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
    fake_comet.set_timings(processing_s=4.0)
    await asyncio.sleep(0.5)  # the gateway session comes up right after the sync
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
        while not replies_to(fake_discord, status_id):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a second post would have happened by now
        (result,) = replies_to(fake_discord, status_id)
        assert result.attachments and result.attachments[0].filename.endswith(".mp4")
        assert len(fake_comet.accepted_creates()) == 1
    finally:
        assert await restarted.stop() == 0
    token = bot_settings.discord.token.get_secret_value()
    assert not any(token in line for line in bot_process.output + restarted.output)


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
        sys.executable, "-m", "bot.cli", "health", "--config", str(bot_process.config)
    )
    assert await asyncio.wait_for(health.wait(), SETTLE_S) == 0  # Docker's HEALTHCHECK
    assert await bot_process.stop() == 0
    entries = [json.loads(line) for line in "".join(bot_process.output).splitlines() if line]
    assert {e["level"] for e in entries} <= {"INFO", "WARNING", "ERROR"}
    [delivered] = [e for e in entries if e["message"].startswith("delivered ")]
    assert delivered["user_id"] == fake_discord.default.alice.id
    assert delivered["channel_id"] == fake_discord.default.general.id

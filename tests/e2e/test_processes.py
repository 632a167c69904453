"""The product as an operator runs it: console scripts in their own processes, fakes on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.messages import Message
from bot.fakes.harness import config_toml
from bot.settings import Settings

pytestmark = pytest.mark.slow
KLING_BOT = [sys.executable, "-m", "bot.cli"]
SETTLE_S = 60  # a guard against hangs, not a speed assertion


async def test_the_demo_runs_offline_and_writes_a_playable_mp4(tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    demo = await asyncio.create_subprocess_exec(
        *KLING_BOT,
        "demo",
        "--out",
        str(out),
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


async def start_bot(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *KLING_BOT,
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def wait_for_line(process: asyncio.subprocess.Process, needle: str) -> list[str]:
    lines: list[str] = []
    assert process.stdout is not None
    while True:
        raw = await asyncio.wait_for(process.stdout.readline(), SETTLE_S)
        if not raw:
            raise AssertionError(f"the bot exited before {needle!r}:\n" + "".join(lines))
        lines.append(raw.decode())
        if needle in lines[-1]:
            return lines


async def replies_to(fake: FakeDiscord, status_id: int) -> list[Message]:
    return [m for m in fake.channel_messages(fake.default.general) if m.reference_id == status_id]


async def test_run_stops_cleanly_on_sigterm_and_resumes_without_losing_the_task(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings, tmp_path: Path
) -> None:
    fake_comet.set_timings(processing_s=4.0)
    config = tmp_path / "config.toml"
    config.write_text(config_toml(bot_settings), encoding="utf-8")
    bot = await start_bot(config)
    try:
        await wait_for_line(bot, "engine started")
        await asyncio.sleep(0.5)  # let the gateway session come up after the sync
        alice = fake_discord.member(fake_discord.default.alice)
        itx = await alice.run("video", prompt="a lighthouse in a storm")
        await itx.wait_ack()
        assert itx.original is not None
        status_id = itx.original.id
        while not fake_comet.accepted_creates():
            await asyncio.sleep(0.05)
        bot.send_signal(signal.SIGTERM)  # mid-task: the video is still rendering
        output = await asyncio.wait_for(bot.communicate(), SETTLE_S)
        assert bot.returncode == 0, output[0].decode()
        assert await replies_to(fake_discord, status_id) == []
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    restarted = await start_bot(config)
    try:
        await wait_for_line(restarted, "resumed 1 unfinished tasks")
        while not await replies_to(fake_discord, status_id):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a second post would have happened by now
        (result,) = await replies_to(fake_discord, status_id)
        assert result.attachments and result.attachments[0].filename.endswith(".mp4")
        assert len(fake_comet.accepted_creates()) == 1
    finally:
        restarted.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restarted.communicate(), SETTLE_S)
    assert bot_settings.discord.token.get_secret_value() not in output[0].decode()

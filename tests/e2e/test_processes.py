"""The product as an operator runs it: console scripts in their own processes, fakes on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import replies_to
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

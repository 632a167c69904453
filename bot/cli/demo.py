"""`kling-bot demo`: the real bot against the built-in fakes, one video, narrated for a newcomer.

Offline and tokenless: a fake Discord and a fake CometAPI start on loopback, the real discord.py
bot logs in to the first and talks to the second, and a member runs `/video`. Everything the
member would have seen is printed; the MP4 is copied next to where the command was run.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.discord.client import KlingBot
from bot.engine.clock import ScaledClock
from bot.fakes.clip_maker import make_clip
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.messages import Message
from bot.fakes.discord.testing import render
from bot.fakes.harness import running_bot, settings_for

PROMPT = "a paper boat drifting down a rainy street at dusk"
EDIT_PROMPT = "make it snow in <<<video_1>>>"
DEMO_TIMEOUT_S = 60


def _embed_summary(message: Message) -> str:
    """The status line of a status embed, however the renderer laid it out."""
    if not message.embeds:
        return message.content
    embed = message.embeds[0]
    for field in embed.get("fields", []):
        if str(field.get("name", "")).lower() in ("status", "state"):
            return str(field.get("value", ""))
    return str(embed.get("title", ""))


async def _narrate(out: TextIO, output_path: Path, *, with_video: bool) -> int:
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", file=out, flush=True)

    with tempfile.TemporaryDirectory(prefix="kling-demo-") as tmp:
        comet_config = FakeCometConfig(submitted_s=1.0, processing_s=3.0)
        async with FakeCometAPI(comet_config) as comet, FakeDiscord() as discord_fake:
            say(f"fake CometAPI at {comet.base_url}; fake Discord at {discord_fake.base_url}")
            settings = settings_for(discord_fake, comet, Path(tmp))
            async with running_bot(discord_fake, settings, clock=ScaledClock(0.1)) as bot:
                say(f"the bot logged in as {bot.user} and synced its commands")
                clip = None
                if with_video:
                    path = await asyncio.to_thread(make_clip, Path(tmp) / "my-clip.mp4")
                    clip = Attachment.from_path(path, content_type="video/mp4")
                    size = path.stat().st_size
                    say(f"a 3 s 720×720 clip was made for the member ({size:,} bytes)")
                return await _play(bot, discord_fake, say, output_path, clip)


async def _play(
    bot: KlingBot,
    discord_fake: FakeDiscord,
    say: Callable[[str], None],
    output_path: Path,
    clip: Attachment | None,
) -> int:
    member = discord_fake.default.alice
    if clip is None:
        say(f'{member.user.username} types: /video prompt:"{PROMPT}"')
        itx = await discord_fake.member(member).run("video", prompt=PROMPT)
    else:
        say(f'{member.user.username} types: /video prompt:"{EDIT_PROMPT}" video:{clip.filename}')
        itx = await discord_fake.member(member).run("video", prompt=EDIT_PROMPT, video=clip)
    ack = await itx.wait_ack()
    kind = "ephemeral" if ack.ephemeral else "public"
    say(f"the bot answered in {ack.latency_s * 1000:.0f} ms ({kind} status message)")
    status = itx.original
    if status is None:
        say("no status message was posted")
        return 1
    last_seen = ""
    shown: set[str] = set()
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    while time.monotonic() < deadline:
        current = discord_fake.message(status.id)
        summary = _embed_summary(current) if current else ""
        if current is not None and current.attachments and "clip" not in shown:
            shown.add("clip")
            held = current.attachments[0]
            say(f"the bot put its checked copy of the clip on the status message: {held.filename}")
        if summary and summary != last_seen:
            say(f"status: {summary}")
            last_seen = summary
        replies = [
            m
            for m in discord_fake.channel_messages(discord_fake.default.general)
            if m.reference_id == status.id
        ]
        if replies:
            return await _show_result(bot, discord_fake, replies[0], say, output_path)
        await asyncio.sleep(0.1)
    say(f"no result after {DEMO_TIMEOUT_S} s")
    return 1


async def _show_result(
    bot: KlingBot,
    discord_fake: FakeDiscord,
    result: Message,
    say: Callable[[str], None],
    output_path: Path,
) -> int:
    await asyncio.sleep(0.3)  # let the bot add its 🔁 and finish the status edit
    status = discord_fake.message(result.reference_id) if result.reference_id else None
    if status is not None:
        say(f"status: {_embed_summary(status)}")
    say("the channel now shows:")
    for line in render(discord_fake.channel_messages(discord_fake.default.general)).splitlines():
        print(f"         {line}", flush=True)
    tasks = await bot.services.store.list_tasks(limit=1)
    if not tasks or tasks[0].result_path is None:
        say("the result file is missing")
        return 1
    await asyncio.to_thread(shutil.copyfile, tasks[0].result_path, output_path)
    size = tasks[0].result_size_bytes or 0
    task = tasks[0]
    say(f"task #{task.id} is {task.state.value}; the MP4 ({size:,} bytes) is at {output_path}")
    return 0


def run_demo(output_path: Path, out: TextIO = sys.stdout, *, with_video: bool = False) -> int:
    """Run the demo (with `with_video`: an edit of a member's clip); return the exit code."""
    return asyncio.run(_narrate(out, output_path.resolve(), with_video=with_video))

"""The live progress bar through the real bot on the fake Discord: from the second render of a
kind on, the status message shows a bar and about how long is left, and the ticker moves it."""

from __future__ import annotations

import asyncio
import re

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Message
from bot.fakes.discord.testing import reply_to
from tests.helpers.waits import eventually

SETTLE_S = 30  # a guard against hangs, not a speed assertion


def status_field(message: Message) -> str:
    fields = message.embeds[0]["fields"]
    return str(next(f["value"] for f in fields if f["name"] == "Status"))


async def test_a_render_shows_a_bar_from_recent_renders_of_its_kind(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    fake_comet.set_timings(processing_s=3.0)  # the first render of its kind: the sample
    first = await alice.run("video", prompt="a lighthouse")
    await first.wait_ack()
    assert first.original is not None
    await reply_to(fake_discord, first.original.id)
    assert "▰" not in status_field(first.original) and "▱" not in status_field(first.original)

    fake_comet.set_timings(processing_s=float("inf"))
    second = await alice.run("video", prompt="a paper boat")
    await second.wait_ack()
    status = second.original
    assert status is not None
    await eventually(
        lambda: (
            re.fullmatch(r"Rendering…\n[▰▱]{10} about \d+ s left", status_field(status)) is not None
        )
    )

    async def late() -> None:  # past the first one's time, the ticker says so
        while "longer than usual" not in status_field(status):
            await kling_bot.services.ticker.run_once()
            await asyncio.sleep(0.2)

    await asyncio.wait_for(late(), SETTLE_S)
    assert status_field(status) == "Rendering…\n▰▰▰▰▰▰▰▰▰▱ taking a little longer than usual"

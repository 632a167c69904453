"""Cost up front, through the real bot on the fake Discord: the status message and `/quota show`
say what a video costs and what is left; a video the quota can't cover is refused with its cost,
the balance and when the window resets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Message
from bot.fakes.discord.testing import private_text, reply_to

WEIGHTED: dict[str, dict[str, Any]] = {
    "quotas": {
        "default_limit": 5,
        "max_in_flight_per_member": 5,
        "cost": {"base": 1, "per_second": 0.2, "pro_multiplier": 2},
    }
}


def field(message: Message, name: str) -> str:
    [embed] = message.embeds
    return str(next(f["value"] for f in embed["fields"] if f["name"] == name))


@pytest.mark.parametrize("bot_config", [WEIGHTED])
async def test_the_status_message_says_the_cost_and_what_is_left(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a lighthouse", duration=5)  # (1 + 0.2 × 5) = 2
    await itx.wait_ack()
    assert itx.original is not None
    assert field(itx.original, "Cost") == "2 credits · 3 left today"
    await reply_to(fake_discord, itx.original.id)
    assert field(itx.original, "Cost") == "2 credits · 3 left today"  # every edit keeps it

    shown = await alice.run("quota", "show")
    [answer] = await shown.wait_response()
    assert "**3 left**. A video costs 2 credits." in answer.embeds[0]["description"]
    assert field(answer, "A video costs") == (
        "2 credits with the server's defaults; the mode and the length change it"
    )


@pytest.mark.parametrize("bot_config", [WEIGHTED])
async def test_a_video_the_quota_cant_cover_is_refused_with_cost_balance_and_reset(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    first = await alice.run("video", prompt="a lighthouse", duration=5)
    await first.wait_ack()
    refused = await alice.run("video", prompt="a fox", mode="pro", duration=5)  # (1 + 1) × 2
    text = await private_text(refused)
    assert re.fullmatch(
        r"This video costs 4 credits and you have 3 left: you have used 2 of your 5 credits "
        r"today\. Your quota resets <t:(\d+):R> \(\d{4}-\d\d-\d\d 00:00 UTC\)\.",
        text,
    ), text
    assert len(await kling_bot.services.store.list_tasks()) == 1

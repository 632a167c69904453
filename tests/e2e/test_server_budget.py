"""`/quota server` and `quotas.server_limit` through the real bot on the fake Discord: the meter,
a moderator setting the budget, and a video the server's budget can't cover refused before
anything is charged or sent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member, Message
from bot.fakes.discord.testing import assert_pings, private_text

BUDGET: dict[str, dict[str, Any]] = {
    "quotas": {"server_limit": 2, "moderator_roles": ["Moderators"]},
}


async def meter(fake: FakeDiscord, who: Member, **options: Any) -> Message:
    [answer] = await (await fake.member(who).run("quota", "server", **options)).wait_response()
    assert answer.is_ephemeral
    assert_pings(answer)
    return answer


def fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


@pytest.mark.parametrize("bot_config", [BUDGET])
async def test_the_server_budget_is_charged_with_each_video_and_refuses_past_it(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    for who in (world.alice, world.bob):
        itx = await fake_discord.member(who).run("video", prompt=f"{who.user.username}'s fox")
        await itx.wait_ack()
    refused = await fake_discord.member(world.owner).run("video", prompt="one more")
    assert re.fullmatch(
        r"This video costs 1 credit and the server has 0 left: it has used 2 of its 2 credits "
        r"today\. The server's budget resets <t:\d+:R> \(\d{4}-\d\d-\d\d 00:00 UTC\)\.",
        await private_text(refused),
    )
    assert len(await kling_bot.services.store.list_tasks()) == 2

    shown = await meter(fake_discord, world.alice)
    assert shown.embeds[0]["description"] == (
        "This server has used **2 of 2 credits** today: **0 left**."
    )
    assert "Most used today" not in fields(shown)  # for moderators only
    refused = await fake_discord.member(world.alice).run("quota", "server", limit=10)
    assert (await private_text(refused)).startswith("Only moderators can set the server's budget")

    shown = await meter(fake_discord, world.moderator, limit=10, window="week")
    assert shown.embeds[0]["description"] == (
        "This server has used **2 of 10 credits** this week: **8 left**."
    )
    assert fields(shown)["Budget"] == "10 credits a week (set with `/quota server`)"
    top = fields(shown)["Most used this week"].splitlines()
    assert sorted(top) == sorted(f"<@{m.id}> — 1 credit" for m in (world.alice, world.bob))
    third = await fake_discord.member(world.owner).run("video", prompt="one more")
    [status] = await third.wait_response()
    assert not status.is_ephemeral  # the raised budget covers it

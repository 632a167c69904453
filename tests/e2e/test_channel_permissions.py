"""A channel where the bot can't post never costs a member a paid video: the real bot (discord.py)
against the fake Discord's permission overwrites."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Perm
from bot.fakes.discord.testing import reply_to

SETTLE_S = 30  # a guard against hangs, not a speed assertion


def deny_the_bot(fake: FakeDiscord, permissions: int) -> None:
    fake.set_overwrite(fake.default.general, fake.default.bot_member, deny=permissions)


async def bot_sees(bot: KlingBot, fake: FakeDiscord, check: str, value: bool) -> None:
    """Wait until the bot's cache has the overwrite (CHANNEL_UPDATE is asynchronous)."""

    async def wait() -> None:
        while True:
            channel = bot.get_channel(fake.default.general.id)
            assert isinstance(channel, discord.TextChannel)
            if getattr(channel.permissions_for(channel.guild.me), check) is value:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


@pytest.mark.parametrize(
    ("denied", "named", "not_named"),
    [
        (Perm.VIEW_CHANNEL, "**View Channel**", "**Send Messages** in"),
        (Perm.SEND_MESSAGES, "**Send Messages**", "**Embed Links** in"),
        (Perm.EMBED_LINKS, "**Embed Links**", "**Send Messages** in"),
    ],
)
async def test_a_video_the_bot_could_not_post_is_refused_before_the_charge(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    denied: int,
    named: str,
    not_named: str,
) -> None:
    deny_the_bot(fake_discord, denied)
    alice = fake_discord.member(fake_discord.default.alice)

    itx = await alice.run("video", prompt="a paper boat in the rain")
    [answer] = await itx.wait_response()

    assert answer.is_ephemeral
    assert f"missing {named} in this channel" in answer.content
    assert not_named not in answer.content  # only the cause, never what it implies
    assert "Ask a server admin to give the bot **View Channel**, **Send Messages** and " in (
        answer.content
    )
    assert "Nothing was charged" in answer.content
    assert await kling_bot.services.store.list_tasks() == []
    assert fake_comet.creates() == []


async def test_a_storyboard_is_refused_the_same_way(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    deny_the_bot(fake_discord, Perm.VIEW_CHANNEL)
    alice = fake_discord.member(fake_discord.default.alice)

    itx = await alice.run("storyboard", shots="2: a dog by the sea | 3: it runs along the beach")
    [answer] = await itx.wait_response()

    assert answer.is_ephemeral and "missing **View Channel**" in answer.content
    assert await kling_bot.services.store.list_tasks() == []


async def test_a_rerun_where_the_bot_may_no_longer_post_is_refused_in_private(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake = fake_discord
    alice = fake.member(fake.default.alice)
    itx = await alice.run("video", prompt="a lighthouse at dawn")
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake, itx.original.id)
    deny_the_bot(fake, Perm.SEND_MESSAGES)
    await bot_sees(kling_bot, fake, "send_messages", False)

    await alice.react(result.id, "🔁")

    async def told() -> str:
        while not fake.dm_messages(fake.default.alice):
            await asyncio.sleep(0.02)
        return fake.dm_messages(fake.default.alice)[0].content

    text = await asyncio.wait_for(told(), SETTLE_S)
    assert text.startswith(f"About your 🔁 in <#{fake.default.general.id}>: ")
    assert "missing **Send Messages** in this channel" in text
    assert len(await kling_bot.services.store.list_tasks()) == 1
    assert len(fake_comet.accepted_creates()) == 1

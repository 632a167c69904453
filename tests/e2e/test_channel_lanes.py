"""One slow channel never holds up the others' results: the real bot (discord.py) against the fake
Discord, with one channel rate-limited for a minute and another one stalled mid-upload."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Message
from bot.fakes.discord.member import MemberDriver
from bot.fakes.discord.testing import replies_to, reply_to

POST = "/channels/{channel_id}/messages"
SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def test_a_slow_channel_delays_only_its_own_results(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake = fake_discord
    general, art, third = fake.default.general, fake.add_channel("art"), fake.add_channel("third")
    # #general: Discord says "retry after a minute"; #art: an upload that doesn't get through.
    limited = fake.inject_429(POST, method="POST", channel=general, retry_after_s=60.0)
    stalled = fake.stall(POST, method="POST", channel=art)

    async def video(member: MemberDriver) -> Message:
        itx = await member.run("video", prompt=f"a paper boat for {member.member.user.username}")
        await itx.wait_ack()
        assert itx.original is not None
        return itx.original

    await video(fake.member(fake.default.alice))
    in_art = await video(fake.member(fake.default.bob).in_channel(art))
    await until(lambda: bool(limited.hits and stalled.hits))  # both results are stuck

    in_third = await video(fake.member(fake.default.moderator).in_channel(third))
    await reply_to(fake, in_third.id)  # delivered while the other two channels are stuck

    assert replies_to(fake, in_art.id) == []
    stalled.release()
    await reply_to(fake, in_art.id)  # #general still waits out its minute, alone


async def until(check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)

"""A permission removed while the video rendered never throws the paid video away: the real bot
(discord.py) against the fake Discord, which changes the bot's overwrites mid-task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import discord
import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Message, Perm
from bot.fakes.discord.member import InteractionHandle

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def until(check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


async def rendering(fake: FakeDiscord, comet: FakeCometAPI) -> tuple[InteractionHandle, str]:
    """Alice's /video, held at the API until the test lets it finish."""
    comet.set_timings(processing_s=float("inf"))
    itx = await fake.member(fake.default.alice).run("video", prompt="a paper boat in the rain")
    await itx.wait_ack()
    await until(lambda: bool(comet.active_task_ids()))
    [api_task] = comet.active_task_ids()
    return itx, api_task


async def deny_the_bot(bot: KlingBot, fake: FakeDiscord, permissions: int) -> None:
    """The overwrite changes, and the bot's cache hears of it."""
    fake.set_overwrite(fake.default.general, fake.default.bot_member, deny=permissions)
    channel = bot.get_channel(fake.default.general.id)
    assert isinstance(channel, discord.TextChannel)
    wanted = discord.Permissions(permissions)
    await until(lambda: not channel.permissions_for(channel.guild.me).value & wanted.value)


async def settled(bot: KlingBot) -> TaskRecord:
    async def wait() -> TaskRecord:
        while True:
            [task] = await bot.services.store.list_tasks()
            if task.is_terminal:
                return task
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


def results_in(fake: FakeDiscord) -> list[Message]:
    return [m for m in fake.channel_messages(fake.default.general) if "video is ready" in m.content]


async def test_without_read_message_history_the_video_is_posted_without_the_reply(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    _, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, Perm.READ_MESSAGE_HISTORY)

    fake_comet.finish(api_task)

    assert (await settled(kling_bot)).state is TaskState.DELIVERED
    [posted] = results_in(fake_discord)
    assert posted.reference_id is None and len(posted.attachments) == 1


async def test_without_attach_files_the_link_is_posted(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, Perm.ATTACH_FILES)

    fake_comet.finish(api_task)

    assert (await settled(kling_bot)).state is TaskState.DELIVERED
    [posted] = results_in(fake_discord)
    assert posted.attachments == [] and ".mp4" in posted.content
    assert "The bot may not attach files here" in posted.content
    assert itx.original is not None and posted.reference_id == itx.original.id


async def test_a_stale_cache_still_finds_the_post_discord_takes(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    # The bot's cache never heard of the overwrite: Discord's refusals lead the way down.
    _, api_task = await rendering(fake_discord, fake_comet)
    general = fake_discord.default.general
    fake_discord.world.set_overwrite(
        general, fake_discord.default.bot_member, deny=Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY
    )

    fake_comet.finish(api_task)

    assert (await settled(kling_bot)).state is TaskState.DELIVERED
    [posted] = results_in(fake_discord)
    assert posted.attachments == [] and posted.reference_id is None
    posts = fake_discord.requests("POST", "/channels/{channel_id}/messages")
    assert [(r.status, r.code) for r in posts][-4:] == [
        (403, 50013),
        (403, 50013),
        (403, 50013),
        (200, None),
    ]


async def test_without_send_messages_the_member_gets_it_through_the_command(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, Perm.SEND_MESSAGES)

    fake_comet.finish(api_task)

    task = await settled(kling_bot)
    assert task.state is TaskState.DELIVERED
    assert results_in(fake_discord) == []
    [private] = itx.record.followups
    assert private.is_ephemeral and len(private.attachments) == 1
    assert private.content.startswith(
        f"Posting in <#{fake_discord.default.general.id}> failed (the bot may not post in "
        "#general: grant Send Messages), so it comes to you here."
    )
    assert "Attach Files" not in private.content
    assert itx.original is not None
    await until(lambda: "Done ✅" in str(itx.original.embeds))  # only View Channel needed
    assert await kling_bot.services.store.interaction_token(task.id) is None  # secret gone


async def test_after_the_token_expired_it_comes_in_a_direct_message(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, Perm.VIEW_CHANNEL)
    itx.expire_token()  # Discord refuses it (401/50027), as after 15 minutes

    fake_comet.finish(api_task)

    assert (await settled(kling_bot)).state is TaskState.DELIVERED
    [dm] = fake_discord.dm_messages(fake_discord.default.alice)
    assert len(dm.attachments) == 1
    assert "the bot can't see #general: grant View Channel" in dm.content
    assert itx.record.followups == []


async def test_only_when_every_way_fails_is_it_undeliverable_and_refunded(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, Perm.SEND_MESSAGES)
    itx.expire_token()
    fake_discord.close_dms(fake_discord.default.alice)

    fake_comet.finish(api_task)

    task = await settled(kling_bot)
    assert task.state is TaskState.UNDELIVERABLE
    assert task.failure_reason == (
        "The video was made but could not be posted: the bot may not post in #general: "
        "grant Send Messages, and the member takes no direct messages"
    )
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert [e.kind for e in ledger] == ["charge", "refund"]
    assert itx.original is not None
    await until(lambda: "Your credit was refunded" in str(itx.original.embeds))


@pytest.mark.parametrize("denied", [Perm.SEND_MESSAGES, Perm.VIEW_CHANNEL])
async def test_the_advice_names_the_cause_not_what_it_implies(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, denied: int
) -> None:
    itx, api_task = await rendering(fake_discord, fake_comet)
    await deny_the_bot(kling_bot, fake_discord, denied)
    itx.expire_token()
    fake_discord.close_dms(fake_discord.default.alice)

    fake_comet.finish(api_task)

    reason = (await settled(kling_bot)).failure_reason or ""
    assert "Attach Files" not in reason and "Embed Links" not in reason
    assert ("View Channel" in reason) == (denied == Perm.VIEW_CHANNEL)

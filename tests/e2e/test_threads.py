"""A thread or a forum post works like a channel, and an archived thread is answered clearly:
the real bot (discord.py) against the fake Discord's threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.models import Channel
from bot.fakes.discord.testing import reply_to

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def until(check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


async def settled(bot: KlingBot) -> TaskRecord:
    async def wait() -> TaskRecord:
        while True:
            [task] = await bot.services.store.list_tasks()
            if task.is_terminal:
                return task
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


async def video_in(fake: FakeDiscord, where: Channel) -> None:
    """Alice makes a video in `where`; it is posted there, replying to its status message."""
    itx = await fake.member(fake.default.alice).in_channel(where).run("video", prompt="a boat")
    await itx.wait_ack()
    status = itx.original
    assert status is not None and status.channel_id == where.id and not status.is_ephemeral
    result = await reply_to(fake, status.id)
    assert result.channel_id == where.id and len(result.attachments) == 1
    # The 🔁 comes a moment after the post (its own request): wait for it, don't race it.
    await until(lambda: "🔁" in result.reactions)


async def test_a_video_made_in_a_thread_is_posted_in_the_thread(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    thread = fake_discord.add_thread(fake_discord.default.general, "boats")
    await video_in(fake_discord, thread)
    assert (await settled(kling_bot)).state is TaskState.DELIVERED


async def test_a_video_made_in_a_forum_post_is_posted_in_the_post(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    forum = fake_discord.add_forum("showcase")
    post = fake_discord.add_thread(forum, "my boats", owner=fake_discord.default.alice)
    await video_in(fake_discord, post)
    assert (await settled(kling_bot)).state is TaskState.DELIVERED


async def test_an_archived_thread_is_reopened_by_the_result(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    thread = fake_discord.add_thread(fake_discord.default.general, "old boats", archived=True)
    await video_in(fake_discord, thread)
    assert not thread.archived


async def test_an_archived_locked_thread_is_refused_before_the_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake = fake_discord
    thread = fake.add_thread(fake.default.general, "closed", archived=True, locked=True)
    alice = fake.member(fake.default.alice).in_channel(thread)

    itx = await alice.run("video", prompt="a boat")
    [answer] = await itx.wait_response()

    assert answer.is_ephemeral
    assert answer.content.startswith("This thread is archived and locked, so the bot can't post")
    assert "Nothing was charged" in answer.content
    assert await kling_bot.services.store.list_tasks() == []
    assert fake_comet.creates() == []


async def test_a_thread_locked_while_the_video_rendered_sends_it_to_the_member(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake = fake_discord
    fake_comet.set_timings(processing_s=float("inf"))
    thread = fake.add_thread(fake.default.general, "boats")
    itx = await fake.member(fake.default.alice).in_channel(thread).run("video", prompt="a boat")
    await itx.wait_ack()
    await until(lambda: bool(fake_comet.active_task_ids()))
    fake.archive_thread(thread, locked=True)

    fake_comet.finish(fake_comet.active_task_ids()[0])

    assert (await settled(kling_bot)).state is TaskState.DELIVERED
    [private] = itx.record.followups
    assert private.is_ephemeral and len(private.attachments) == 1
    assert "(#boats is an archived, locked thread the bot can't reopen)" in private.content

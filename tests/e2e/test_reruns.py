"""🔁 on a result makes it again, for the requester (or a moderator), once per reaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import discord
import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.messages import Message
from bot.fakes.discord.testing import assert_pings, reply_to, result_of

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def make_a_video(fake: FakeDiscord, prompt: str = "a paper boat") -> Message:
    """Alice runs /video; returns the result message once it is posted."""
    itx = await fake.member(fake.default.alice).run("video", prompt=prompt)
    await itx.wait_ack()
    assert itx.original is not None
    return await result_of(fake, itx.original.id)


@pytest.fixture
def handled(kling_bot: KlingBot) -> asyncio.Queue[discord.RawReactionActionEvent]:
    """Every reaction the bot has finished dealing with (`on_rerun_reaction_handled`)."""
    queue: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

    async def note(payload: discord.RawReactionActionEvent) -> None:
        queue.put_nowait(payload)

    kling_bot.add_listener(note, "on_rerun_reaction_handled")
    return queue


async def dealt_with(
    handled: asyncio.Queue[discord.RawReactionActionEvent], user_id: int, count: int = 1
) -> None:
    """Wait until the bot has dealt with `count` reactions of this member (the bot's own 🔁
    on each result is handled too: it is skipped here)."""

    async def wait() -> None:
        seen = 0
        while seen < count:
            if (await handled.get()).user_id == user_id:
                seen += 1

    await asyncio.wait_for(wait(), SETTLE_S)


async def all_settled(bot: KlingBot, count: int) -> list[TaskRecord]:
    async def wait() -> list[TaskRecord]:
        while True:
            tasks = await bot.services.store.list_tasks()
            if len(tasks) >= count and all(t.is_terminal for t in tasks):
                return tasks
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


async def test_the_requester_reruns_a_result_with_its_reaction(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_discord.default.alice.nick = "Alice L."  # the name kept for `kling-bot tasks`
    result = await make_a_video(fake_discord, "a lighthouse at dawn")
    await fake_discord.member(fake_discord.default.alice).react(result.id, "🔁")
    status = await reply_to(fake_discord, result.id)  # the rerun's status message
    second = await reply_to(fake_discord, status.id)  # ... and its result
    assert second.attachments
    assert_pings(second, users={fake_discord.default.alice.id})
    rerun, original = await all_settled(kling_bot, 2)
    assert (rerun.origin, rerun.rerun_of, rerun.user_id) == (
        "rerun",
        original.id,
        fake_discord.default.alice.id,
    )
    assert rerun.request == original.request
    assert rerun.state is TaskState.DELIVERED
    assert (original.user_name, rerun.user_name) == ("Alice L.", "Alice L.")
    prompts = [r.body["prompt"] for r in fake_comet.accepted_creates() if isinstance(r.body, dict)]
    assert prompts == ["a lighthouse at dawn", "a lighthouse at dawn"]  # the bot's own 🔁: ignored


async def test_someone_elses_reaction_is_ignored(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    handled: asyncio.Queue[discord.RawReactionActionEvent],
) -> None:
    result = await make_a_video(fake_discord)
    await fake_discord.member(fake_discord.default.bob).react(result.id, "🔁")
    await dealt_with(handled, fake_discord.default.bob.id)  # ... and nothing came of it:
    assert len(await kling_bot.services.store.list_tasks()) == 1
    assert len(fake_comet.accepted_creates()) == 1


@pytest.mark.parametrize("bot_config", [{"quotas": {"moderator_roles": ["Moderators"]}}])
async def test_a_moderator_may_rerun_and_pays_for_it(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    result = await make_a_video(fake_discord)
    await fake_discord.member(fake_discord.default.moderator).react(result.id, "🔁")
    await reply_to(fake_discord, result.id)
    rerun, _ = await all_settled(kling_bot, 2)
    assert rerun.user_id == fake_discord.default.moderator.id
    ledger = await kling_bot.services.store.ledger_for_task(rerun.id)
    assert [(e.user_id, e.kind) for e in ledger] == [(fake_discord.default.moderator.id, "charge")]


@pytest.mark.parametrize("bot_config", [{"reruns": {"allow": "anyone"}}])
async def test_anyone_may_rerun_when_the_server_allows_it(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    result = await make_a_video(fake_discord)
    await fake_discord.member(fake_discord.default.bob).react(result.id, "🔁")
    await reply_to(fake_discord, result.id)
    rerun, _ = await all_settled(kling_bot, 2)
    assert rerun.user_id == fake_discord.default.bob.id


async def test_a_double_reaction_makes_one_rerun(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    handled: asyncio.Queue[discord.RawReactionActionEvent],
) -> None:
    result = await make_a_video(fake_discord)
    alice = fake_discord.member(fake_discord.default.alice)
    await alice.react(result.id, "🔁")
    await alice.unreact(result.id, "🔁")
    await alice.react(result.id, "🔁")
    await dealt_with(handled, fake_discord.default.alice.id, count=2)  # both reactions
    await all_settled(kling_bot, 2)
    assert len(await kling_bot.services.store.list_tasks()) == 2
    assert len(fake_comet.accepted_creates()) == 2


@pytest.mark.parametrize("bot_config", [{"quotas": {"default_limit": 1}}])
async def test_a_rerun_beyond_the_quota_is_refused_with_a_mention_of_the_reactor(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    result = await make_a_video(fake_discord)
    await fake_discord.member(fake_discord.default.alice).react(result.id, "🔁")
    notice = await reply_to(fake_discord, result.id)
    assert "used 1 of your 1 credit" in notice.content
    assert_pings(notice, users={fake_discord.default.alice.id})
    assert len(await kling_bot.services.store.list_tasks()) == 1


async def test_a_rerun_whose_status_post_is_cut_off_is_withdrawn_with_a_refund(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    result = await make_a_video(fake_discord)
    # The connection drops under the status post: discord.py raises a network error (aiohttp's),
    # not an HTTPException, and nothing is posted. The reactor is never told of the rerun.
    post = fake_discord.inject_disconnect("/channels/{channel_id}/messages", method="POST")
    await fake_discord.member(fake_discord.default.alice).react(result.id, "🔁")
    rerun, original = await all_settled(kling_bot, 2)
    assert post.hits, "the status post met the dropped connection"
    assert rerun.rerun_of == original.id
    assert rerun.state is TaskState.REJECTED
    assert rerun.failure_reason and "withdrawn" in rerun.failure_reason
    ledger = await kling_bot.services.store.ledger_for_task(rerun.id)
    assert [e.kind for e in ledger] == ["charge", "refund"]
    assert sum(e.credits for e in ledger) == 0
    assert len(fake_comet.accepted_creates()) == 1  # the rerun never reached the API


async def react_handled(bot: KlingBot, react: Callable[[], Awaitable[None]]) -> None:
    """Make a reaction and wait until the bot has received it and finished handling it."""
    seen = asyncio.ensure_future(bot.wait_for("raw_reaction_add"))
    await react()
    await asyncio.wait_for(seen, SETTLE_S)
    # discord.py has created the handlers' tasks by the time the waiter hears of the event.
    handlers = [t for t in asyncio.all_tasks() if t.get_name() == REACTION_HANDLER]
    await asyncio.wait_for(asyncio.gather(*handlers), SETTLE_S)


REACTION_HANDLER = "discord.py: on_raw_reaction_add"


@pytest.mark.parametrize("bot_config", [{"quotas": {"default_limit": 1}}])
async def test_toggling_a_refused_rerun_posts_one_notice(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    fake = fake_discord
    result = await make_a_video(fake)
    alice = fake.member(fake.default.alice)
    for _ in range(12):
        await react_handled(kling_bot, lambda: alice.react(result.id, "🔁"))
        await alice.unreact(result.id, "🔁")

    notices = [
        m
        for m in fake.channel_messages(fake.default.general, include_deleted=True)
        if m.reference_id == result.id and m.author.id == fake.bot_user.id
    ]
    assert len(notices) == 1
    assert notices[0].content.startswith(f"<@{fake.default.alice.id}> ")
    assert "used 1 of your 1 credit" in notices[0].content
    assert len(await kling_bot.services.store.list_tasks()) == 1

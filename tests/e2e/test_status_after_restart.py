"""After a restart the status messages tell the truth again: the real bot (discord.py) stopped and
started against the fake Discord, with tasks waiting in line and one that ended meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.domain.lifecycle import TaskState
from bot.engine.task_engine import utc_now
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Message
from bot.fakes.harness import running_bot
from bot.settings import Settings
from bot.store.sql_store import SqlStore

SETTLE_S = 30  # a guard against hangs, not a speed assertion


def status_field(message: Message) -> str:
    fields = message.embeds[0]["fields"]
    return str(next(f["value"] for f in fields if f["name"] == "Status"))


async def until(check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


@pytest.mark.parametrize(
    "bot_config",
    [{"omni": {"max_concurrent_tasks": 1}, "quotas": {"max_in_flight_per_member": 5}}],
)
async def test_places_in_line_and_ends_missed_while_down_are_shown_after_a_restart(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    fake = fake_discord
    fake_comet.set_timings(processing_s=float("inf"))  # the first task holds the only slot
    alice = fake.member(fake.default.alice)
    statuses: list[Message] = []
    async with running_bot(fake, bot_settings) as bot:
        for prompt in ("a lighthouse", "a paper boat", "a red fox"):
            itx = await alice.run("video", prompt=prompt)
            await itx.wait_ack()
            assert itx.original is not None
            statuses.append(itx.original)
        running, first, second = statuses
        await until(lambda: status_field(second) == "Waiting in line — position 2")
        tasks = await bot.services.store.list_tasks()
        ended = next(t for t in tasks if t.status_message_id == first.id)

    # While the bot is down (or in the moment before a crash), the first in line ends.
    store = await SqlStore.open(bot_settings.storage.database)
    try:
        await store.transition(
            ended.id,
            TaskState.REJECTED,
            now=utc_now(),
            expect=TaskState.QUEUED,
            failure_reason="Withdrawn by a moderator",
        )
    finally:
        await store.close()

    async with running_bot(fake, bot_settings):
        await until(lambda: status_field(second) == "Waiting in line — position 1")
        await until(lambda: status_field(first).startswith("❌ Withdrawn by a moderator."))
    assert status_field(running).startswith("Rendering")

"""`/cancel` through the real bot on the fake Discord: a queued task never reaches the API and is
refunded; one already at the API keeps its slot, is never delivered, and is refunded only per
`quotas.refund_cancelled_running`; only the requester or a moderator; across a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member, Message
from bot.fakes.discord.testing import private_text, replies_to, reply_to
from bot.fakes.harness import running_bot
from bot.settings import Settings
from bot.store import TaskStore
from tests.helpers.waits import eventually

ONE_SLOT: dict[str, dict[str, Any]] = {
    "omni": {"max_concurrent_tasks": 1},
    "quotas": {"max_in_flight_per_member": 5, "moderator_roles": ["Moderators"]},
}
ONE_SLOT_REFUNDING: dict[str, dict[str, Any]] = {
    "omni": {"max_concurrent_tasks": 1},
    "quotas": {"max_in_flight_per_member": 5, "refund_cancelled_running": True},
}


async def status_of(fake: FakeDiscord, who: Member, prompt: str) -> Message:
    """`/video` as `who`; its status message."""
    itx = await fake.member(who).run("video", prompt=prompt)
    await itx.wait_ack()
    assert itx.original is not None
    return itx.original


async def task_of(store: TaskStore, status: Message) -> TaskRecord:
    """The task a status message shows (once the bot has linked them)."""

    async def wait() -> TaskRecord:
        while True:
            found = [t for t in await store.list_tasks() if t.status_message_id == status.id]
            if found:
                return found[0]
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(wait(), 30)


async def reaches(store: TaskStore, status: Message, state: TaskState) -> TaskRecord:
    async def wait() -> TaskRecord:
        while (task := await task_of(store, status)).state is not state:
            await asyncio.sleep(0.02)
        return task

    return await asyncio.wait_for(wait(), 30)


def status_field(message: Message) -> str:
    fields = message.embeds[0]["fields"]
    return str(next(f["value"] for f in fields if f["name"] == "Status"))


async def cancel(fake: FakeDiscord, who: Member, task_id: int) -> str:
    return await private_text(await fake.member(who).run("cancel", task=task_id))


async def credits_of(store: TaskStore, task_id: int) -> list[tuple[str, int]]:
    return [(e.kind, e.credits) for e in await store.ledger_for_task(task_id)]


@pytest.mark.parametrize("bot_config", [ONE_SLOT])
async def test_a_queued_task_never_reaches_the_api_and_is_refunded(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    store, alice = kling_bot.services.store, fake_discord.default.alice
    fake_comet.set_timings(processing_s=float("inf"))  # the first task holds the only slot
    first = await status_of(fake_discord, alice, "a lighthouse")
    running = await reaches(store, first, TaskState.PROCESSING)
    second = await status_of(fake_discord, alice, "a paper boat")
    queued = await task_of(store, second)

    text = await cancel(fake_discord, alice, queued.id)
    assert text == f"Cancelled task #{queued.id}: it never reached Kling. 1 credit refunded."
    assert (await store.get_task(queued.id)).state is TaskState.CANCELLED
    assert await credits_of(store, queued.id) == [("charge", 1), ("refund", -1)]
    await eventually(
        lambda: status_field(second) == f"🛑 Cancelled by <@{alice.id}>. Your credit was refunded."
    )

    assert running.api_task_id is not None
    fake_comet.finish(running.api_task_id)  # the slot frees; nothing is waiting for it
    await reply_to(fake_discord, first.id)
    assert len(fake_comet.creates()) == 1


@pytest.mark.parametrize(
    ("bot_config", "refunded"), [(ONE_SLOT, False), (ONE_SLOT_REFUNDING, True)]
)
async def test_a_task_at_the_api_keeps_its_slot_is_never_posted_and_refunded_per_the_config(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, refunded: bool
) -> None:
    store, alice = kling_bot.services.store, fake_discord.default.alice
    fake_comet.set_timings(processing_s=float("inf"))
    first = await status_of(fake_discord, alice, "a lighthouse")
    running = await reaches(store, first, TaskState.PROCESSING)
    second = await status_of(fake_discord, alice, "a paper boat")

    text = await cancel(fake_discord, alice, running.id)
    assert text.startswith(f"Cancelled task #{running.id}. Kling is already rendering it")
    assert ("will be refunded" in text) is refunded
    await eventually(lambda: "Kling is finishing it, and it won't be posted" in status_field(first))
    # Kling still renders it: the only slot stays taken, so the next task waits.
    assert (await task_of(store, second)).state is TaskState.QUEUED
    assert (await store.get_task(running.id)).state is TaskState.PROCESSING

    assert running.api_task_id is not None
    fake_comet.finish(running.api_task_id)
    ended = await reaches(store, first, TaskState.CANCELLED)
    fake_comet.set_timings(processing_s=0.2)
    nxt = await reaches(store, second, TaskState.PROCESSING)
    assert nxt.api_task_id is not None
    fake_comet.finish(nxt.api_task_id)
    await reply_to(fake_discord, second.id)  # the next one is delivered ...
    assert replies_to(fake_discord, first.id) == []  # ... the cancelled one never was
    assert ended.delivery_message_id is None and ended.result_url is None
    expected = [("charge", 1), ("refund", -1)] if refunded else [("charge", 1)]
    assert await credits_of(store, running.id) == expected
    await eventually(lambda: status_field(first).startswith(f"🛑 Cancelled by <@{alice.id}>."))


@pytest.mark.parametrize("bot_config", [ONE_SLOT])
async def test_only_the_requester_or_a_moderator_may_cancel(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world, store = fake_discord.default, kling_bot.services.store
    fake_comet.set_timings(processing_s=float("inf"))
    await status_of(fake_discord, world.alice, "a lighthouse")
    second = await status_of(fake_discord, world.alice, "a paper boat")
    queued = await task_of(store, second)
    assert (await cancel(fake_discord, world.bob, queued.id)).startswith("Only the member who")
    assert (await store.get_task(queued.id)).state is TaskState.QUEUED
    assert (await cancel(fake_discord, world.moderator, queued.id)).startswith("Cancelled")
    assert (await store.get_task(queued.id)).cancelled_by == world.moderator.id
    again = await cancel(fake_discord, world.alice, queued.id)
    assert again == f"Task #{queued.id} has already ended (cancelled): there is nothing to cancel."
    assert "no task #999" in (await cancel(fake_discord, world.alice, 999)).lower()


@pytest.mark.parametrize("bot_config", [ONE_SLOT])
async def test_autocomplete_offers_the_members_unfinished_tasks(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world, store = fake_discord.default, kling_bot.services.store
    fake_comet.set_timings(processing_s=float("inf"))
    first = await status_of(fake_discord, world.alice, "a lighthouse at dawn")
    await reaches(store, first, TaskState.PROCESSING)
    second = await status_of(fake_discord, world.alice, "a paper boat")
    await status_of(fake_discord, world.bob, "bob's fox")
    one, two = await task_of(store, first), await task_of(store, second)

    alice = fake_discord.member(world.alice)
    typing = await alice.autocomplete("cancel", focused="task", task="")
    await typing.wait_ack()
    assert typing.choices == [
        {"name": f"#{two.id} · ⏳ Queued · a paper boat", "value": two.id},
        {"name": f"#{one.id} · 🎞️ Rendering · a lighthouse at dawn", "value": one.id},
    ]
    typing = await alice.autocomplete("cancel", focused="task", task="light")
    await typing.wait_ack()
    assert [c["value"] for c in typing.choices or []] == [one.id]
    await cancel(fake_discord, world.alice, one.id)
    typing = await alice.autocomplete("cancel", focused="task", task="")
    await typing.wait_ack()
    assert [c["value"] for c in typing.choices or []] == [two.id]  # cancelled already


@pytest.mark.parametrize("bot_config", [ONE_SLOT])
async def test_a_cancellation_holds_across_a_restart(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    alice = fake_discord.default.alice
    fake_comet.set_timings(processing_s=float("inf"))
    async with running_bot(fake_discord, bot_settings) as bot:
        status = await status_of(fake_discord, alice, "a lighthouse")
        running = await reaches(bot.services.store, status, TaskState.PROCESSING)
        await cancel(fake_discord, alice, running.id)

    assert running.api_task_id is not None
    fake_comet.finish(running.api_task_id)  # Kling finishes it while the bot is down
    async with running_bot(fake_discord, bot_settings) as bot:
        ended = await reaches(bot.services.store, status, TaskState.CANCELLED)
        await eventually(lambda: status_field(status).startswith("🛑 Cancelled"))
    assert ended.delivery_message_id is None and replies_to(fake_discord, status.id) == []


def cancel_button_of(message: Message) -> str | None:
    for row in message.components:
        for button in row["components"]:
            if button.get("label") == "Cancel":
                return str(button["custom_id"])
    return None


@pytest.mark.parametrize("bot_config", [ONE_SLOT])
async def test_the_status_messages_cancel_button_works_for_the_requester_and_after_a_restart(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    world = fake_discord.default
    fake_comet.set_timings(processing_s=float("inf"))
    async with running_bot(fake_discord, bot_settings) as bot:
        first = await status_of(fake_discord, world.alice, "a lighthouse")
        running = await reaches(bot.services.store, first, TaskState.PROCESSING)
        second = await status_of(fake_discord, world.alice, "a paper boat")
        queued = await task_of(bot.services.store, second)
        button = cancel_button_of(second)
        assert button == f"kob:cancel:{queued.id}"

        refused = await fake_discord.member(world.bob).click(second, button)
        assert (await private_text(refused)).startswith("Only the member who asked")
        pressed = await fake_discord.member(world.alice).click(second, button)
        assert (await private_text(pressed)).startswith(f"Cancelled task #{queued.id}")
        await eventually(lambda: cancel_button_of(second) is None)  # nothing left to cancel
        assert status_field(second).startswith("🛑 Cancelled")
        assert (await bot.services.store.get_task(queued.id)).state is TaskState.CANCELLED

    async with running_bot(fake_discord, bot_settings) as bot:
        button = cancel_button_of(first)
        assert button is not None
        pressed = await fake_discord.member(world.alice).click(first, button)
        assert "Kling is already rendering it" in await private_text(pressed)
        await eventually(lambda: cancel_button_of(first) is None)
        assert running.api_task_id is not None
        fake_comet.finish(running.api_task_id)
        await reaches(bot.services.store, first, TaskState.CANCELLED)

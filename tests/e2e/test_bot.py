"""The real bot (discord.py) against the fake Discord and the fake CometAPI, played by members."""

from __future__ import annotations

import asyncio

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import assert_pings, reply_to
from tests.helpers.waits import eventually

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def settled(bot: KlingBot, task_id: int) -> TaskState:
    async def wait() -> TaskState:
        while True:
            task = await bot.services.store.get_task(task_id)
            if task.is_terminal:
                return task.state
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


async def test_a_member_makes_a_video(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a paper boat in the rain @everyone")
    ack = await itx.wait_ack()
    assert ack.type == 4 and not ack.ephemeral  # a public status message, not "thinking…"
    status = itx.original
    assert status is not None and status.embeds
    assert "a paper boat in the rain" in str(status.embeds[0])
    result = await reply_to(fake_discord, status.id)
    assert [a.filename.endswith(".mp4") for a in result.attachments] == [True]
    assert_pings(result, users={fake_discord.default.alice.id})
    (task,) = await kling_bot.services.store.list_tasks()
    assert await settled(kling_bot, task.id) is TaskState.DELIVERED
    assert "🔁" in result.reactions  # added before the delivery is recorded
    assert len(fake_comet.accepted_creates()) == 1
    # exactly one result message; the status message ends up saying it is done
    replies = [
        m
        for m in fake_discord.channel_messages(fake_discord.default.general)
        if m.reference_id == status.id
    ]
    assert len(replies) == 1

    def status_says() -> str:
        fields = fake_discord.message(status.id).embeds[0]["fields"]
        return str(next(f["value"] for f in fields if f["name"] == "Status"))

    await eventually(lambda: status_says().startswith("Done ✅"))  # the final edit is prompt
    assert status_says().endswith(f"/{result.id})")  # "jump to the video": this result


async def test_bad_input_is_refused_privately_and_costs_nothing(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a boat", duration=7)
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral
    assert "`duration` 7 is not allowed for text-to-video on kling-video-o1: use 5 or 10" in (
        answer.content
    )
    assert fake_comet.creates() == []
    assert await kling_bot.services.store.list_tasks() == []


async def test_a_prompt_of_invisible_characters_is_refused_before_any_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="\u200b\u200b\ufeff\u2060")
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral
    assert "`prompt` has only invisible characters" in answer.content
    assert fake_comet.creates() == []
    assert await kling_bot.services.store.list_tasks() == []


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ("9999999999999999999", "`elements`: 9999999999999999999 is not a Kling element ID"),
        ("١٢٣", "`elements` must be Kling element IDs separated by commas"),
    ],
    ids=["past-64-bits", "arabic-indic-digits"],
)
async def test_an_element_id_the_api_would_refuse_is_refused_before_any_charge(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    elements: str,
    expected: str,
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="<<<element_1>>> sings", elements=elements)
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral
    assert expected in answer.content
    assert fake_comet.creates() == []
    assert await kling_bot.services.store.list_tasks() == []


@pytest.mark.parametrize(
    "bot_config", [{"quotas": {"default_limit": 1, "max_in_flight_per_member": 5}}]
)
async def test_the_quota_is_enforced_with_a_clear_message(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    bob = fake_discord.member(fake_discord.default.bob)
    first = await bob.run("video", prompt="one")
    await first.wait_response()
    second = await bob.run("video", prompt="two")
    [refusal] = await second.wait_response()
    assert refusal.is_ephemeral
    assert "used 1 of your 1 credit today" in refusal.content
    assert len(await kling_bot.services.store.list_tasks()) == 1


async def test_a_gateway_disconnect_mid_task_loses_nothing(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_comet.set_timings(processing_s=1.0)
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a lighthouse in a storm")
    await itx.wait_ack()
    await fake_discord.disconnect_gateway(resumable=True)
    bob = fake_discord.member(fake_discord.default.bob)
    second = await bob.run("video", prompt="a cat on a windowsill")
    await second.wait_ack()
    assert fake_discord.gateway.resumes, "the client should have resumed its session"
    for handle in (itx, second):
        assert handle.original is not None
        await reply_to(fake_discord, handle.original.id)
    assert len(fake_comet.accepted_creates()) == 2


async def test_a_task_whose_answer_discord_refused_is_withdrawn_and_refunded(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_comet.set_timings(processing_s=float("inf"))
    fake_discord.inject_error(
        "/interactions/{interaction_id}/{token}/callback", method="POST", status=404, code=10062
    )
    alice = fake_discord.member(fake_discord.default.alice)
    await alice.run("video", prompt="a boat that nobody will see")

    async def withdrawn() -> None:
        while True:
            tasks = await kling_bot.services.store.list_tasks()
            if tasks and tasks[0].state is TaskState.REJECTED:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(withdrawn(), SETTLE_S)
    (task,) = await kling_bot.services.store.list_tasks()
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert sum(entry.credits for entry in ledger) == 0
    assert task.failure_reason and "withdrawn" in task.failure_reason

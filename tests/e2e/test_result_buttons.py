"""The buttons under a result, through the real bot on the fake Discord: 🔁 Rerun, 🎲 Variation
(a form with the prompt; the new task remembers its parent), 🗑 Delete (the requester or a
moderator; the record stays), and all three after the bot restarted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member, Message
from bot.fakes.discord.testing import assert_pings, private_text, reply_to
from bot.fakes.harness import running_bot
from bot.settings import Settings
from tests.helpers.waits import eventually

SETTLE_S = 30  # a guard against hangs, not a speed assertion
MODERATORS = {"quotas": {"moderator_roles": ["Moderators"], "max_in_flight_per_member": 5}}


async def result_of(fake: FakeDiscord, who: Member, prompt: str, **options: Any) -> Message:
    """`/video` as `who`; the result message once it is posted and its status says so (the
    task is recorded delivered then, as a member sees it)."""
    itx = await fake.member(who).run("video", prompt=prompt, **options)
    await itx.wait_ack()
    status = itx.original
    assert status is not None
    result = await reply_to(fake, status.id)
    await eventually(lambda: str(result.id) in str(fake.message(status.id).embeds))
    return result


async def settled(bot: KlingBot, count: int) -> list[TaskRecord]:
    """Every task, oldest first, once there are `count` and all have ended."""

    async def wait() -> list[TaskRecord]:
        while True:
            tasks = await bot.services.store.list_tasks()
            if len(tasks) >= count and all(t.is_terminal for t in tasks):
                return sorted(tasks, key=lambda t: t.id)
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


def field(message: Message, name: str) -> str:
    [embed] = message.embeds
    return str(next(f["value"] for f in embed["fields"] if f["name"] == name))


def button_id(message: Message, label: str) -> str:
    for row in message.components:
        for button in row["components"]:
            if button.get("label") == label:
                return str(button["custom_id"])
    raise AssertionError(f"no {label!r} button on message {message.id}: {message.components}")


async def test_a_result_has_rerun_variation_and_delete_buttons_and_the_reaction(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    result = await result_of(fake_discord, fake_discord.default.alice, "a lighthouse at dawn")
    [task] = await settled(kling_bot, 1)
    alice = fake_discord.member(fake_discord.default.alice)
    assert [(b["emoji"]["name"], b["label"], b["custom_id"]) for b in alice.buttons(result)] == [
        ("🔁", "Rerun", f"kob:result:rerun:{task.id}"),
        ("🎲", "Variation", f"kob:result:vary:{task.id}"),
        ("▶️", "Extend", f"kob:result:extend:{task.id}"),
        ("✏️", "Extend…", f"kob:result:extend_form:{task.id}"),
        ("🎞️", "GIF", f"kob:result:gif:{task.id}"),
        ("🗑️", "Delete", f"kob:result:delete:{task.id}"),
    ]
    # Five a row: Delete on a row of its own, below what makes something of the result.
    assert [len(row["components"]) for row in result.components] == [5, 1]
    assert result.reactors("🔁") == [fake_discord.bot_user.id]
    assert "Press 🔁 Rerun" in result.content
    assert task.status_message_id is not None
    status = fake_discord.message(task.status_message_id)
    await eventually(lambda: status.components == [])  # delivered: no Cancel any more


async def test_rerun_button_makes_it_again_for_the_requester_and_refuses_others_privately(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    result = await result_of(fake_discord, world.alice, "a lighthouse at dawn")
    rerun_id = button_id(result, "Rerun")

    refused = await fake_discord.member(world.bob).click(result, rerun_id)
    text = await private_text(refused)
    assert text.startswith("Only the member who asked for this video")

    pressed = await fake_discord.member(world.alice).click(result, rerun_id)
    [status] = await pressed.wait_response()
    assert not status.is_ephemeral and "rerun of #" in status.embeds[0]["title"]
    assert_pings(status)
    second = await reply_to(fake_discord, status.id)
    assert second.attachments and button_id(second, "Rerun") != rerun_id
    original, rerun = await settled(kling_bot, 2)
    assert (rerun.rerun_of, rerun.user_id, rerun.origin) == (original.id, world.alice.id, "rerun")
    assert [c.body["prompt"] for c in fake_comet.accepted_creates()] == ["a lighthouse at dawn"] * 2


async def test_rerun_button_and_reaction_together_make_one_rerun(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    result = await result_of(fake_discord, fake_discord.default.alice, "a red fox")
    pressed = await alice.click(result, button_id(result, "Rerun"))
    await pressed.wait_response()
    again = await alice.click(result, button_id(result, "Rerun"))
    assert "a moment ago" in await private_text(again)
    assert len(await settled(kling_bot, 2)) == 2


async def test_variation_opens_a_form_with_the_prompt_and_remembers_its_parent(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    result = await result_of(fake_discord, fake_discord.default.alice, "a paper boat in the rain")
    opened = await alice.click(result, button_id(result, "Variation"))
    assert (await opened.wait_ack()).type == 9
    [(field_id, prefilled)] = opened.modal_fields().items()
    assert prefilled == "a paper boat in the rain"
    submitted = await opened.submit_modal({field_id: "a paper boat in the snow"})
    [status] = await submitted.wait_response()
    assert "variation of #" in status.embeds[0]["title"]
    await reply_to(fake_discord, status.id)
    parent, child = await settled(kling_bot, 2)
    assert (child.parent_id, child.parent_kind, child.varied_from) == (
        parent.id,
        "variation",
        parent.id,
    )
    assert fake_comet.accepted_creates()[-1].body["prompt"] == "a paper boat in the snow"

    [shown] = await (await alice.run("task", id=child.id)).wait_response()
    assert f"A variation of [#{parent.id}]" in field(shown, "Family")
    [shown] = await (await alice.run("task", id=parent.id)).wait_response()
    assert f"#{child.id}]" in field(shown, "Family") and "(variation)" in field(shown, "Family")


async def test_a_variation_is_checked_like_a_prompt_before_anything_is_charged(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    result = await result_of(fake_discord, fake_discord.default.alice, "a paper boat")
    opened = await alice.click(result, button_id(result, "Variation"))
    await opened.wait_ack()
    [field_id] = opened.modal_fields()
    submitted = await opened.submit_modal({field_id: "\u200b\u200b"})
    assert "prompt" in (await private_text(submitted)).lower()
    assert len(await kling_bot.services.store.list_tasks()) == 1
    assert len(fake_comet.accepted_creates()) == 1


@pytest.mark.parametrize("bot_config", [MODERATORS])
async def test_delete_removes_the_message_for_the_requester_or_a_moderator_and_keeps_the_record(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    result = await result_of(fake_discord, world.alice, "a lighthouse at dawn")
    delete_id = button_id(result, "Delete")
    refused = await fake_discord.member(world.bob).click(result, delete_id)
    assert (await private_text(refused)).startswith("Only the member who asked")
    assert not result.deleted

    removed = await fake_discord.member(world.moderator).click(result, delete_id)
    assert "Removed the video of task" in await private_text(removed)
    assert result.deleted
    [task] = await settled(kling_bot, 1)
    assert (task.state, task.result_deleted_by) == (TaskState.DELIVERED, world.moderator.id)
    [shown] = await (await fake_discord.member(world.alice).run("task", id=task.id)).wait_response()
    assert field(shown, "Result").startswith(f"Removed by <@{world.moderator.id}>")
    assert task.status_message_id is not None
    status = fake_discord.message(task.status_message_id)
    await eventually(lambda: "removed by" in field(status, "Status"))


async def test_the_buttons_work_after_the_bot_restarted(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    async with running_bot(fake_discord, bot_settings):
        result = await result_of(fake_discord, fake_discord.default.alice, "a lighthouse")

    async with running_bot(fake_discord, bot_settings) as bot:
        opened = await alice.click(result, button_id(result, "Variation"))
        await opened.wait_ack()
        assert list(opened.modal_fields().values()) == ["a lighthouse"]

        pressed = await alice.click(result, button_id(result, "Rerun"))
        [status] = await pressed.wait_response()
        await reply_to(fake_discord, status.id)

        removed = await alice.click(result, button_id(result, "Delete"))
        assert "Removed the video" in await private_text(removed)
        original, rerun = await settled(bot, 2)
    assert rerun.rerun_of == original.id and original.result_deleted_by == alice.member.id
    assert result.deleted


async def test_a_storyboards_variation_form_holds_its_shots_one_a_line(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("storyboard", shots="2: a dog by the sea | 3: it runs along the beach")
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    opened = await alice.click(result, button_id(result, "Variation"))
    await opened.wait_ack()
    [(field_id, prefilled)] = opened.modal_fields().items()
    assert prefilled == "2: a dog by the sea\n3: it runs along the beach"
    submitted = await opened.submit_modal({field_id: "2: a cat by the sea\n4: it runs away\n"})
    [status] = await submitted.wait_response()
    await reply_to(fake_discord, status.id)
    body = fake_comet.accepted_creates()[-1].body
    assert isinstance(body, dict)
    assert body["duration"] == "6"
    assert [(p["duration"], p["prompt"]) for p in body["multi_prompt"]] == [
        ("2", "a cat by the sea"),
        ("4", "it runs away"),
    ]

"""`/tasks` and `/task` with the real bot on the fake Discord: links to results, private views."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.domain.wording import jump_url
from bot.fakes.discord import FakeDiscord, Member, Message, Perm
from bot.fakes.discord.testing import assert_pings
from bot.fakes.discord.world import MODERATORS_DEFAULT

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def delivered_video(fake: FakeDiscord, bot: KlingBot, who: Member, prompt: str) -> TaskRecord:
    """`/video` as `who`, then wait until its result is posted."""
    itx = await fake.member(who).run("video", prompt=prompt)
    await itx.wait_ack()

    async def wait() -> TaskRecord:
        while True:
            tasks = await bot.services.store.list_tasks(user_id=who.id)
            if tasks and tasks[0].state is TaskState.DELIVERED:
                return tasks[0]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), SETTLE_S)


async def private_embed(fake: FakeDiscord, who: Member, command: str, **options: Any) -> str:
    """Run a command as `who`; its private, ping-free embed as text (or the refusal's text)."""
    [message] = await (await fake.member(who).run(command, **options)).wait_response()
    assert message.is_ephemeral
    assert_pings(message)
    return text_of(message)


def text_of(message: Message) -> str:
    if not message.embeds:
        return message.content
    [embed] = message.embeds
    fields = [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(
        [embed["title"], embed.get("description", ""), *fields, embed["footer"]["text"]]
    )


async def test_tasks_lists_a_delivered_video_with_its_link(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    task = await delivered_video(fake_discord, kling_bot, world.alice, "a paper boat in the rain")
    assert task.delivery_message_id is not None
    text = await private_embed(fake_discord, world.alice, "tasks")
    link = jump_url(world.guild.id, world.general.id, task.delivery_message_id)
    assert f"`#{task.id}` ✅ Delivered · a paper boat in the rain · <t:" in text
    assert f"[video]({link})" in text
    filtered = await private_embed(fake_discord, world.alice, "tasks", status="failed")
    assert "You have no failed tasks on this server yet." in filtered
    # bob has none of his own, and cannot look at alice's
    assert "You have no tasks" in await private_embed(fake_discord, world.bob, "tasks")
    refusal = await private_embed(fake_discord, world.bob, "tasks", member=world.alice)
    assert "Only moderators can see another member's tasks" in refusal


async def test_one_task_in_full_for_its_requester_and_nobody_else_but_moderators(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    task = await delivered_video(fake_discord, kling_bot, world.alice, "a lighthouse at dawn")
    own = await private_embed(fake_discord, world.alice, "task", id=task.id)
    assert "a lighthouse at dawn" in own
    assert "Timings: Created <t:" in own and "Finished" in own
    assert "History: " in own and "delivering → delivered" in own
    assert "Result: [Jump to the video](" in own

    refused = await private_embed(fake_discord, world.bob, "task", id=task.id)
    missing = await private_embed(fake_discord, world.bob, "task", id=task.id + 1000)
    assert (
        refused
        == f"There is no task #{task.id} that you can see. `/tasks` lists your recent tasks."
    )
    assert missing == refused.replace(f"#{task.id}", f"#{task.id + 1000}")

    fake_discord.set_role_permissions(world.moderators, MODERATORS_DEFAULT | Perm.MANAGE_GUILD)
    as_moderator = await private_embed(fake_discord, world.moderator, "task", id=task.id)
    assert f"Requested by: <@{world.alice.id}>" in as_moderator
    listed = await private_embed(fake_discord, world.moderator, "tasks", member=world.alice)
    assert f"<@{world.alice.id}>'s latest tasks" in listed and f"`#{task.id}`" in listed


@pytest.mark.parametrize("bot_config", [{"quotas": {"moderator_roles": ["Moderators"]}}])
async def test_a_configured_moderator_role_sees_others_tasks(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    task = await delivered_video(fake_discord, kling_bot, world.bob, "a cat on a windowsill")
    text = await private_embed(fake_discord, world.moderator, "task", id=task.id)
    assert f"Task #{task.id}" in text and "a cat on a windowsill" in text

"""`/quota` with the real bot on the fake Discord: members look, moderators limit, no pings."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.fakes.discord import FakeDiscord, InteractionHandle, Member, Message, Perm, Role
from bot.fakes.discord.testing import assert_pings
from bot.fakes.discord.world import MODERATORS_DEFAULT

SETTLE_S = 30  # a guard against hangs, not a speed assertion
MODERATORS_BY_NAME = {"quotas": {"moderator_roles": ["Moderators"]}}


async def private_answer(handle: InteractionHandle) -> Message:
    """The one private message a command answered with; it must ping nobody."""
    [message] = await handle.wait_response()
    assert message.is_ephemeral, handle.describe()
    assert message.allowed_mentions == {"parse": []}, message.allowed_mentions
    assert_pings(message)
    return message


def embed_text(message: Message) -> str:
    """Everything an embed says, as one string."""
    [embed] = message.embeds
    fields = [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join([embed.get("title", ""), embed.get("description", ""), *fields])


async def run(fake: FakeDiscord, who: Member, *path: str, **options: Any) -> Message:
    """`/quota …` (or any command) as `who`; returns the private answer."""
    return await private_answer(await fake.member(who).run(*path, **options))


async def video_answer(fake: FakeDiscord, who: Member, prompt: str) -> Message:
    """`/video` as `who`; the status message, or the private refusal."""
    [message] = await (await fake.member(who).run("video", prompt=prompt)).wait_response()
    return message


async def all_finished(bot: KlingBot) -> None:
    """Wait until every task has ended (a reset forgives finished use only)."""

    async def wait() -> None:
        while not all(t.is_terminal for t in await bot.services.store.list_tasks()):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), SETTLE_S)


def grant_manage_server(fake: FakeDiscord) -> None:
    fake.set_role_permissions(fake.default.moderators, MODERATORS_DEFAULT | Perm.MANAGE_GUILD)


def artists(fake: FakeDiscord) -> tuple[Role, Member]:
    """A new role, and a new member who holds it."""
    role = fake.add_role("Artists")
    return role, fake.add_member("carol", roles=(role,))


async def test_a_member_sees_their_own_quota(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    alice = fake_discord.default.alice
    await video_answer(fake_discord, alice, "a paper boat")
    answer = await run(fake_discord, alice, "quota", "show")
    text = embed_text(answer)
    assert "Your quota" in text
    assert "You have used **1 of 5 credits** today: **4 left**." in text
    assert "Set by: the bot's default" in text
    assert "<t:" in text and ":R>" in text and ":f>" in text
    assert "In progress: " in text


async def test_a_member_cannot_see_anothers_quota(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    refusal = await run(fake_discord, world.alice, "quota", "show", member=world.bob)
    assert "Only moderators can see another member's quota" in refusal.content
    assert not refusal.embeds


async def test_a_member_cannot_set_limits_and_nothing_is_stored(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    # The Moderators role without Manage Server (and not named in the config) is not enough.
    for who in (world.alice, world.moderator):
        refusal = await run(fake_discord, who, "quota", "set", target=who, limit=100)
        assert "Only moderators can set quotas" in refusal.content
    store = kling_bot.services.store
    assert await store.list_overrides(world.guild.id) == []


async def test_manage_server_limits_a_member_whose_second_video_is_refused(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    grant_manage_server(fake_discord)
    done = await run(fake_discord, world.moderator, "quota", "set", target=world.bob, limit=1)
    assert done.content == (
        f"<@{world.bob.id}> now gets 1 credit a day. What they have used today counts towards it."
    )
    first = await video_answer(fake_discord, world.bob, "one")
    assert not first.is_ephemeral
    refusal = await video_answer(fake_discord, world.bob, "two")
    assert refusal.is_ephemeral
    assert "used 1 of your 1 credit today" in refusal.content
    shown = await run(fake_discord, world.moderator, "quota", "show", member=world.bob)
    assert "Set by: a member override" in embed_text(shown)


@pytest.mark.parametrize("bot_config", [MODERATORS_BY_NAME])
async def test_a_role_override_set_by_a_configured_moderator_role_applies(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    role, carol = artists(fake_discord)
    moderator = fake_discord.default.moderator
    done = await run(fake_discord, moderator, "quota", "set", target=role, limit=0)
    assert done.content.startswith(f"Members with <@&{role.id}> are now blocked: no videos")
    refusal = await video_answer(fake_discord, carol, "a painting that moves")
    assert "a moderator set your quota to 0 credits" in refusal.content
    shown = await run(fake_discord, carol, "quota", "show")
    assert f"Set by: the <@&{role.id}> role" in embed_text(shown)
    # Unlimited for the role, with a window of its own.
    await run(fake_discord, moderator, "quota", "set", target=role, limit=-1, window="week")
    assert "Limit: unlimited" in embed_text(await run(fake_discord, carol, "quota", "show"))


@pytest.mark.parametrize(
    "bot_config",
    [{**MODERATORS_BY_NAME, "quotas": {**MODERATORS_BY_NAME["quotas"], "default_limit": 1}}],
)
async def test_a_reset_lets_the_member_go_again(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    assert not (await video_answer(fake_discord, world.bob, "one")).is_ephemeral
    assert (await video_answer(fake_discord, world.bob, "two")).is_ephemeral
    await all_finished(kling_bot)
    done = await run(fake_discord, world.moderator, "quota", "reset", member=world.bob)
    assert done.content == (
        f"Forgot 1 credit of <@{world.bob.id}>'s use today. They have 1 credit left."
    )
    assert not (await video_answer(fake_discord, world.bob, "three")).is_ephemeral


@pytest.mark.parametrize("bot_config", [MODERATORS_BY_NAME])
async def test_the_server_default_and_clearing_an_override(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    mod = world.moderator
    done = await run(fake_discord, mod, "quota", "default", limit=0, window="week")
    assert done.content.startswith("Members without an override are now blocked: no videos")
    assert (await video_answer(fake_discord, world.alice, "blocked")).is_ephemeral
    await run(fake_discord, mod, "quota", "set", target=world.alice, limit=2)
    assert "2 credits a week" in embed_text(await run(fake_discord, world.alice, "quota", "show"))
    cleared = await run(fake_discord, mod, "quota", "clear", target=world.alice)
    assert cleared.content.startswith(f"Removed <@{world.alice.id}>'s override")
    again = await run(fake_discord, mod, "quota", "clear", target=world.alice)
    assert again.content == f"<@{world.alice.id}> had no override; nothing changed."


async def test_the_list_names_every_override_without_pinging(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    grant_manage_server(fake_discord)
    role, _ = artists(fake_discord)
    await run(fake_discord, world.moderator, "quota", "set", target=world.bob, limit=3)
    await run(fake_discord, world.moderator, "quota", "set", target=role, limit=-1)
    await run(fake_discord, world.moderator, "quota", "set", target=world.everyone, limit=2)
    listing = await run(fake_discord, world.moderator, "quota", "list")  # asserts: no pings
    text = embed_text(listing)
    assert f"<@{world.bob.id}> — 3 credits a day" in text
    assert f"<@&{role.id}> — unlimited" in text
    assert "@\u200beveryone — 2 credits a day" in text
    refusal = await run(fake_discord, world.alice, "quota", "list")
    assert "Only moderators can list the server's quotas" in refusal.content

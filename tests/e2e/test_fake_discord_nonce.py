"""What exactly-once delivery relies on, with the real discord.py client: enforced message nonces
and channel history paged the way Discord pages it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import discord
import pytest

from bot.fakes.discord import FakeDiscord, Perm
from bot.fakes.discord.bodies import Body
from bot.fakes.discord.state import DEFAULT_NONCE_WINDOW_S
from bot.fakes.discord.testing import running_client

SEEDED = 250  # more than two pages of 100


class HistoryClient(discord.Client):
    """guilds + guild_messages: it sees MESSAGE_CREATE, so the test can count them."""

    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)


@pytest.fixture
def discord_client_factory() -> Callable[[FakeDiscord], discord.Client]:
    return lambda fake: HistoryClient()


def general(client: discord.Client, fake: FakeDiscord) -> discord.TextChannel:
    channel = client.get_channel(fake.default.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def creates(fake: FakeDiscord) -> list[dict[str, object]]:
    return [e.data for e in fake.gateway.events if e.name == "MESSAGE_CREATE"]


# -- nonce ------------------------------------------------------------------------------------


async def test_a_repeated_enforced_nonce_answers_the_first_message(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    channel = general(discord_client, fake_discord)

    first = await channel.send("your video is ready", nonce="kob-1")
    again = await channel.send("your video is ready (retry)", nonce="kob-1")

    assert again.id == first.id
    assert again.content == "your video is ready"  # the first message, not the retry's text
    assert first.nonce == again.nonce == "kob-1"
    assert [m.id for m in fake_discord.channel_messages(fake_discord.default.general)] == [first.id]
    [event] = creates(fake_discord)
    assert event["nonce"] == "kob-1"
    posts = fake_discord.requests("POST", "/channels/{channel_id}/messages")
    assert [(p.status, p.payload["enforce_nonce"]) for p in posts] == [(200, True), (200, True)]
    # Discord keeps the nonce only ephemerally: a later fetch doesn't carry it.
    assert (await channel.fetch_message(first.id)).nonce is None


async def test_concurrent_repeats_create_one_message(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    channel = general(discord_client, fake_discord)

    sent = await asyncio.gather(*(channel.send("once", nonce="kob-7") for _ in range(5)))

    assert len({m.id for m in sent}) == 1
    assert len(fake_discord.channel_messages(fake_discord.default.general)) == 1


async def test_the_nonce_is_scoped_to_the_channel_and_the_window(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    here = general(discord_client, fake_discord)
    other_channel = fake_discord.add_channel("results")
    there = await discord_client.fetch_channel(other_channel.id)
    assert isinstance(there, discord.TextChannel)

    first = await here.send("a", nonce="n")
    elsewhere = await there.send("a", nonce="n")
    fake_discord.clock.advance(DEFAULT_NONCE_WINDOW_S - 1)
    inside = await here.send("a", nonce="n")
    fake_discord.clock.advance(2)
    after_window = await here.send("a", nonce="n")

    assert elsewhere.id != first.id
    assert inside.id == first.id
    assert after_window.id != first.id
    # The new message starts a new window.
    assert (await here.send("a", nonce="n")).id == after_window.id


async def test_the_window_is_configurable(fake_discord: FakeDiscord) -> None:
    fake_discord.state.nonce_window_s = 10.0
    async with running_client(fake_discord, HistoryClient()) as client:
        channel = general(client, fake_discord)
        first = await channel.send("a", nonce=42)
        fake_discord.clock.advance(9)
        assert (await channel.send("a", nonce=42)).id == first.id
        fake_discord.clock.advance(2)
        assert (await channel.send("a", nonce=42)).id != first.id


async def test_a_deleted_message_does_not_answer_for_its_nonce(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    channel = general(discord_client, fake_discord)
    first = await channel.send("a", nonce="gone")
    await first.delete()

    second = await channel.send("a", nonce="gone")

    assert second.id != first.id
    assert [m.id for m in fake_discord.channel_messages(fake_discord.default.general)] == [
        second.id
    ]


async def test_an_overlong_nonce_is_refused(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    with pytest.raises(discord.HTTPException) as refused:
        await general(discord_client, fake_discord).send("a", nonce="x" * 26)
    assert (refused.value.status, refused.value.code) == (400, 50035)
    assert fake_discord.channel_messages(fake_discord.default.general) == []


# -- history ----------------------------------------------------------------------------------


def seed(fake: FakeDiscord, count: int = SEEDED) -> list[int]:
    """``count`` messages from alice in #general (oldest first), plus hidden ones in between."""
    world = fake.default
    ids = []
    for number in range(count):
        body = Body(payload={"content": f"m{number}"})
        message = fake.state.post_message(world.guild, world.general, world.alice.user, body)
        ids.append(message.id)
        if number == count // 2:
            hidden = fake.state.post_message(
                world.guild, world.general, world.bob.user, Body(payload={"content": "x"})
            )
            fake.state.delete_message(hidden)
            ephemeral = Body(payload={"content": "only you", "flags": 64})
            fake.state.post_message(
                world.guild, world.general, fake.bot_user, ephemeral, extra_flags=64
            )
    return ids


async def history(channel: discord.TextChannel, **options: object) -> list[int]:
    return [m.id async for m in channel.history(**options)]  # type: ignore[arg-type]


def pages(fake: FakeDiscord) -> list[str]:
    return [r.query for r in fake.requests("GET", "/channels/{channel_id}/messages")]


async def test_history_pages_through_everything_newest_first(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    ids = seed(fake_discord)
    channel = general(discord_client, fake_discord)

    assert await history(channel, limit=None) == ids[::-1]
    assert len(pages(fake_discord)) == 3
    assert await history(channel, limit=150, before=discord.Object(ids[200])) == ids[50:200][::-1]


async def test_history_after_returns_the_messages_right_after_the_anchor(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    ids = seed(fake_discord)
    channel = general(discord_client, fake_discord)

    assert await history(channel, limit=None, oldest_first=True) == ids
    assert await history(channel, limit=None, after=discord.Object(ids[99])) == ids[100:]
    # What delivery does: a short look just after a point in time, oldest first.
    assert await history(channel, limit=50, after=discord.Object(ids[9])) == ids[10:60]
    # Newest first with an `after`: discord.py pages down from the newest and filters instead.
    assert (
        await history(channel, limit=120, after=discord.Object(ids[9]), oldest_first=False)
        == ids[-120:][::-1]
    )


async def test_history_around_takes_half_the_limit_on_each_side(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    ids = seed(fake_discord)
    channel = general(discord_client, fake_discord)

    # discord.py asks for 100 when given 101: 50 older, the anchor, 50 newer.
    assert await history(channel, limit=101, around=discord.Object(ids[125])) == ids[75:176][::-1]
    assert await history(channel, limit=5, around=discord.Object(ids[125])) == ids[123:128][::-1]
    assert await history(channel, limit=10, around=discord.Object(ids[1])) == ids[0:7][::-1]


async def test_without_read_message_history_the_history_is_empty(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    seed(fake_discord, 3)
    world = fake_discord.default
    fake_discord.set_overwrite(world.general, world.bot_role, deny=Perm.READ_MESSAGE_HISTORY)
    fake_discord.set_overwrite(world.general, world.everyone, deny=Perm.READ_MESSAGE_HISTORY)

    assert await history(general(discord_client, fake_discord), limit=10) == []

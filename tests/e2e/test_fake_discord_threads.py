"""Threads and forum posts in the fake Discord, with the real discord.py client: cached like
Discord's (active ones at login, new ones by THREAD_CREATE), permissions from the parent with
Send Messages in Threads, and archived threads read-only until a post reopens them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import discord
import pytest

from bot.fakes.discord import FakeDiscord, Perm


class ThreadClient(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)


@pytest.fixture
def discord_client_factory() -> Callable[[FakeDiscord], discord.Client]:
    return lambda fake: ThreadClient()


async def cached_thread(client: discord.Client, thread_id: int) -> discord.Thread:
    async def wait() -> discord.Thread:
        while not isinstance(found := client.get_channel(thread_id), discord.Thread):
            await asyncio.sleep(0.01)
        return found

    return await asyncio.wait_for(wait(), 5)


async def test_threads_and_forum_posts_are_channels_the_bot_can_post_in(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    thread = fake.add_thread(fake.default.general, "boats")
    forum = fake.add_forum("showcase")
    post = fake.add_thread(forum, "my first video")

    for made in (thread, post):
        cached = await cached_thread(discord_client, made.id)
        assert cached.guild.me is not None
        assert cached.permissions_for(cached.guild.me).send_messages_in_threads
        sent = await cached.send("hello", file=discord.File(__file__))
        assert fake.message(sent.id).channel_id == made.id
    assert isinstance(discord_client.get_channel(forum.id), discord.ForumChannel)
    with pytest.raises(discord.HTTPException) as refused:
        await discord_client.http.send_message(forum.id, params=_content("not a post"))
    assert refused.value.code == 50008


async def test_a_thread_takes_send_messages_in_threads_from_its_parent(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    thread = fake.add_thread(fake.default.general, "boats")
    cached = await cached_thread(discord_client, thread.id)
    # Send Messages alone does not let the bot post in a thread, nor does its absence stop it.
    fake.set_overwrite(
        fake.default.general,
        fake.default.bot_member,
        allow=Perm.SEND_MESSAGES,
        deny=Perm.SEND_MESSAGES_IN_THREADS,
    )
    with pytest.raises(discord.Forbidden) as refused:
        await cached.send("hello")
    assert refused.value.code == 50013
    fake.set_overwrite(
        fake.default.general,
        fake.default.bot_member,
        allow=Perm.SEND_MESSAGES_IN_THREADS,
        deny=Perm.SEND_MESSAGES,
    )
    await cached.send("hello again")


async def test_an_archived_thread_reopens_on_a_post_unless_locked(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    quiet = fake.add_thread(fake.default.general, "quiet", archived=True)
    locked = fake.add_thread(fake.default.general, "closed", archived=True, locked=True)
    assert discord_client.get_channel(quiet.id) is None  # archived: not in the cache

    reopened = await discord_client.fetch_channel(quiet.id)
    assert isinstance(reopened, discord.Thread) and reopened.archived
    await reopened.send("back again")
    assert not quiet.archived

    closed = await discord_client.fetch_channel(locked.id)
    assert isinstance(closed, discord.Thread) and closed.locked
    with pytest.raises(discord.HTTPException) as refused:
        await closed.send("let me in")
    assert (refused.value.status, refused.value.code) == (400, 50083)


async def test_a_message_in_an_archived_thread_cannot_be_edited(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    thread = fake.add_thread(fake.default.general, "boats")
    cached = await cached_thread(discord_client, thread.id)
    sent = await cached.send("status")
    fake.archive_thread(thread)

    with pytest.raises(discord.HTTPException) as refused:
        await sent.edit(content="edited")
    assert refused.value.code == 50083


def _content(text: str) -> discord.http.MultipartParameters:
    return discord.http.handle_message_parameters(content=text)

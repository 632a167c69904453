"""Direct messages in the fake Discord, with the real discord.py client: the bot opens a DM with a
member and writes to it; a member who takes no DMs from the server refuses it (403/50007)."""

from __future__ import annotations

from collections.abc import Callable

import discord
import pytest

from bot.fakes.discord import FakeDiscord


class DmClient(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)


@pytest.fixture
def discord_client_factory() -> Callable[[FakeDiscord], discord.Client]:
    return lambda fake: DmClient()


async def test_the_bot_writes_to_a_member_in_private(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    alice = fake_discord.default.alice
    user = await discord_client.fetch_user(alice.id)

    sent = await user.send("your video is ready", nonce="k1", file=discord.File(__file__))
    again = await user.send("your video is ready", nonce="k1")

    assert isinstance(sent.channel, discord.DMChannel) and sent.guild is None
    assert again.id == sent.id  # the enforced nonce holds in DMs too
    [message] = fake_discord.dm_messages(alice)
    assert message.content == "your video is ready" and len(message.attachments) == 1
    assert fake_discord.channel_messages(fake_discord.default.general) == []
    history = [m.id async for m in sent.channel.history(limit=None)]
    assert history == [sent.id]


async def test_a_member_who_takes_no_dms_refuses_them(
    discord_client: discord.Client, fake_discord: FakeDiscord
) -> None:
    bob = fake_discord.default.bob
    fake_discord.close_dms(bob)
    user = await discord_client.fetch_user(bob.id)

    with pytest.raises(discord.Forbidden) as refused:
        await user.send("hello")

    assert refused.value.code == 50007
    assert fake_discord.dm_messages(bob) == []

"""A result delivered by a process that does not run the server's shard.

With several processes, any of them may deliver any task: a server of shard 1 may get its video
from the process running shard 0, which has no such server in its cache. The post must still
fit that server (its boost tier's upload limit) and speak its language.
"""

from __future__ import annotations

from pathlib import Path

import discord

from bot.discord.delivery import DiscordDeliverer
from bot.domain.delivery import ResultFile
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import make_request
from bot.engine.task_engine import utc_now
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import running_client
from bot.locales import load_catalogues
from bot.store.sql_store import SqlStore

MiB = 1024 * 1024


class ShardZero(discord.AutoShardedClient):
    """A process running shard 0 of 2 only."""

    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        super().__init__(intents=intents, shard_count=2, shard_ids=[0], guild_ready_timeout=0.05)


async def test_a_boosted_french_server_of_another_shard_gets_a_file_in_french(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    load_catalogues()
    fake = fake_discord
    boosted = fake.world.add_guild("Boosted", shard=(1, 2), premium_tier=2)  # 50 MiB uploads
    boosted.locale = "fr"
    (channel,) = boosted.channels.values()
    zoe = fake.world.add_member(boosted, "zoe")
    path = tmp_path / "big.mp4"
    with path.open("wb") as handle:
        handle.truncate(20 * MiB)  # over an unboosted server's 10 MiB, under this one's 50
    store = await SqlStore.open(tmp_path / "tasks.sqlite3")
    try:
        task = await store.create_task(
            NewTask(
                origin="discord",
                request=make_request(
                    {"prompt": "a crêpe flipped in slow motion", "aspect_ratio": "16:9"}
                ),
                cost=1,
                guild_id=boosted.id,
                channel_id=channel.id,
                user_id=zoe.user.id,
            ),
            now=utc_now(),
        )
        for state in (
            TaskState.SUBMITTING,
            TaskState.SUBMITTED,
            TaskState.SUCCEEDED,
            TaskState.DELIVERING,
        ):
            task = await store.transition(task.id, state, now=utc_now())
        async with running_client(fake, ShardZero()) as client:
            assert client.get_guild(boosted.id) is None  # not this process's shard
            result = ResultFile("https://cdn.example/v.mp4", path, 20 * MiB)
            message_id = await DiscordDeliverer(client, store).deliver(task, result)
    finally:
        await store.close()
    assert message_id is not None
    posted = fake.state.messages[message_id]
    assert [a.size_bytes for a in posted.attachments] == [20 * MiB]  # a file, not a link
    assert "votre vidéo est prête" in posted.content

"""Sharding: the real bot (an AutoShardedBot) against the fake Discord's shard routing.

A guild's events go only to the connection of shard `(guild_id >> 22) % shard_count`; one
process may run every shard, or each process some of them; Discord closes a connection whose
shard does not fit (4010) or that runs too few shards (4011), and `kling-bot run` says which
setting to change.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Guild
from bot.fakes.discord.shards import (
    CLOSE_INVALID_SHARD,
    CLOSE_SHARDING_REQUIRED,
    Shard,
    event_guild_id,
    shard_of,
)
from bot.fakes.discord.testing import reply_to, running_client
from bot.fakes.harness import config_toml, running_bot, settings_for
from bot.settings import Settings
from tests.helpers.cli import kling_bot, operator_env
from tests.helpers.waits import eventually, task_reaches


def two_guilds(fake: FakeDiscord) -> tuple[Guild, Guild]:
    """A guild on shard 0 of 2 and one on shard 1 of 2, each with #general and the bot."""
    return fake.world.add_guild("Shard Zero", shard=(0, 2)), fake.world.add_guild(
        "Shard One", shard=(1, 2)
    )


def sharded_settings(
    fake: FakeDiscord, comet: FakeCometAPI, data: Path, guilds: tuple[Guild, ...], **discord: Any
) -> Settings:
    """Settings with commands synced to `guilds` and the given shard keys."""
    return settings_for(fake, comet, data, discord={"guild_ids": [g.id for g in guilds], **discord})


@contextlib.asynccontextmanager
async def interactions_seen(bot: KlingBot) -> AsyncIterator[list[int]]:
    """The guild of every interaction `bot` receives while the block runs."""
    seen: list[int] = []

    async def note(interaction: discord.Interaction[KlingBot]) -> None:
        seen.append(interaction.guild_id or 0)

    bot.add_listener(note, "on_interaction")
    try:
        yield seen
    finally:
        bot.remove_listener(note, "on_interaction")


async def make_video(fake: FakeDiscord, bot: KlingBot, guild: Guild) -> None:
    """A member of `guild` runs /video; `bot` answers, makes it and posts the result."""
    member = fake.world.add_member(guild, f"member-of-{guild.id}")
    itx = await fake.member(member).run("video", prompt=f"a lighthouse for {guild.name}")
    assert (await itx.wait_ack()).type == 4
    assert itx.original is not None
    result = await reply_to(fake, itx.original.id)
    assert result.guild_id == guild.id and result.attachments
    (task,) = [t for t in await bot.services.store.list_tasks() if t.guild_id == guild.id]
    await task_reaches(bot.services.store, task.id, TaskState.DELIVERED)


def test_a_guild_lands_on_the_shard_asked_for(fake_discord: FakeDiscord) -> None:
    for count in (1, 2, 3, 16):
        for shard_id in range(count):
            guild = fake_discord.world.add_guild(f"g{shard_id}", shard=(shard_id, count))
            assert shard_of(guild.id, count) == shard_id
    with pytest.raises(ValueError, match="shard 2 is not one of 0 to 1"):
        fake_discord.world.add_guild("nowhere", shard=(2, 2))


async def test_one_process_runs_both_shards_and_gets_commands_from_both(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    guilds = two_guilds(fake_discord)
    settings = sharded_settings(
        fake_discord, fake_comet, tmp_path, guilds, shard_count=2, shard_ids=[0, 1]
    )
    async with running_bot(fake_discord, settings) as bot:
        assert bot.running_shards == [0, 1] and bot.shard_count == 2
        assert fake_discord.gateway.live_shards == {Shard(0, 2), Shard(1, 2)}
        assert [i["shard"] for i in fake_discord.gateway.identifies] == [[0, 2], [1, 2]]
        assert bot.is_gateway_connected
        assert {g.id for g in bot.guilds} >= {g.id for g in guilds}
        async with interactions_seen(bot) as seen:
            for guild in guilds:
                await make_video(fake_discord, bot, guild)
        assert seen == [g.id for g in guilds]
        joined = fake_discord.add_guild("Joined Later", shard=(1, 2))  # GUILD_CREATE, shard 1
        await eventually(lambda: bot.get_guild(joined.id) is not None)
    events = fake_discord.gateway.events
    # Each INTERACTION_CREATE went to the session of its guild's shard, and only there.
    created = [e for e in events if e.name == "INTERACTION_CREATE"]
    assert [(int(e.data["guild_id"]), e.shard_id) for e in created] == [
        (guilds[0].id, 0),
        (guilds[1].id, 1),
    ]
    # So did every other event about a guild the bot's intents ask for: creations, reactions.
    about_guilds = [(e, event_guild_id(e.name, e.data)) for e in events]
    assert {e.name for e, guild_id in about_guilds if guild_id} == {
        "GUILD_CREATE",
        "INTERACTION_CREATE",
        "MESSAGE_REACTION_ADD",
    }
    assert all(e.shard_id == shard_of(g, 2) for e, g in about_guilds if g is not None)
    assert [e.data["shard"] for e in events if e.name == "READY"] == [[0, 2], [1, 2]]
    joins = [
        e.shard_id for e in events if e.name == "GUILD_CREATE" and e.data["id"] == str(joined.id)
    ]
    assert joins == [1]


async def test_no_shard_count_runs_as_many_shards_as_discord_recommends(
    fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    async with FakeDiscord(recommended_shards=2) as fake:
        guilds = two_guilds(fake)
        settings = sharded_settings(fake, fake_comet, tmp_path, guilds)
        assert settings.discord.shard_count == 0
        async with running_bot(fake, settings) as bot:
            assert bot.running_shards == [0, 1] and bot.shard_count == 2
            assert fake.gateway.live_shards == {Shard(0, 2), Shard(1, 2)}
            assert len(fake.requests("GET", "/gateway/bot")) == 1
            for guild in guilds:
                await make_video(fake, bot, guild)
            # One shard down is the bot not connected (its guilds get no answers): /healthz
            # says so until that shard is back.
            await fake.gateway.disconnect(shard_id=1, hold=True)
            await eventually(lambda: not bot.is_gateway_connected)
            assert fake.gateway.live_shards == {Shard(0, 2)}
            fake.gateway.release()
            await eventually(lambda: bot.is_gateway_connected)
            assert [r["seq"] > 0 for r in fake.gateway.resumes] == [True]


async def test_two_processes_each_get_only_their_shards_guilds(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    guilds = two_guilds(fake_discord)
    settings = [
        sharded_settings(
            fake_discord, fake_comet, tmp_path / f"shard-{i}", guilds, shard_count=2, shard_ids=[i]
        )
        for i in (0, 1)
    ]
    async with (
        running_bot(fake_discord, settings[0]) as first,
        running_bot(fake_discord, settings[1]) as second,
        interactions_seen(first) as first_seen,
        interactions_seen(second) as second_seen,
    ):
        assert (first.running_shards, second.running_shards) == ([0], [1])
        assert fake_discord.gateway.live_shards == {Shard(0, 2), Shard(1, 2)}
        # Each process knows only the guilds of its own shard.
        assert guilds[0].id in {g.id for g in first.guilds}
        assert guilds[1].id not in {g.id for g in first.guilds}
        assert guilds[1].id in {g.id for g in second.guilds}
        assert guilds[0].id not in {g.id for g in second.guilds}
        await make_video(fake_discord, second, guilds[1])
        await make_video(fake_discord, first, guilds[0])
        assert (first_seen, second_seen) == ([guilds[0].id], [guilds[1].id])
        # The shard-1 process made the shard-1 guild's video, and the shard-0 one never saw it.
        assert {t.guild_id for t in await second.services.store.list_tasks()} == {guilds[1].id}
        assert {t.guild_id for t in await first.services.store.list_tasks()} == {guilds[0].id}


async def test_a_second_process_with_another_shard_count_is_closed_with_4010(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    guilds = two_guilds(fake_discord)
    first = sharded_settings(
        fake_discord, fake_comet, tmp_path / "a", guilds, shard_count=2, shard_ids=[0]
    )
    other = sharded_settings(
        fake_discord, fake_comet, tmp_path / "b", guilds, shard_count=3, shard_ids=[1]
    )
    async with running_bot(fake_discord, first) as bot:
        with pytest.raises(discord.ConnectionClosed) as closed:
            async with running_bot(fake_discord, other):
                pass
        assert closed.value.code == CLOSE_INVALID_SHARD
        (refused,) = fake_discord.gateway.closes
        assert (refused.code, refused.shard) == (CLOSE_INVALID_SHARD, Shard(1, 3))
        # The first process keeps its shard.
        assert fake_discord.gateway.live_shards == {Shard(0, 2)}
        await make_video(fake_discord, bot, guilds[0])


@pytest.mark.parametrize(
    ("shard_count", "shard_ids", "code"),
    [(2, [2], CLOSE_INVALID_SHARD), (3, [0], CLOSE_INVALID_SHARD)],
    ids=["id-outside-count", "count-differs"],
)
async def test_discord_py_sees_4010_for_an_invalid_shard(
    fake_discord: FakeDiscord, shard_count: int, shard_ids: list[int], code: int
) -> None:
    fake_discord.world.add_guild("Shard One", shard=(1, 2))
    options: dict[str, Any] = {"intents": discord.Intents(guilds=True), "guild_ready_timeout": 0.1}
    async with running_client(
        fake_discord, discord.AutoShardedClient(shard_count=2, shard_ids=[1], **options)
    ):
        client = discord.AutoShardedClient(shard_count=shard_count, shard_ids=shard_ids, **options)
        with pytest.raises(discord.ConnectionClosed) as closed:
            async with running_client(fake_discord, client):
                pass
        assert closed.value.code == code
        assert [c.code for c in fake_discord.gateway.closes] == [code]


async def test_too_few_shards_are_closed_with_4011_and_the_operator_told_what_to_set(
    fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    async with FakeDiscord(recommended_shards=2, required_shards=2) as fake:
        settings = settings_for(fake, fake_comet, tmp_path / "data", discord={"shard_count": 1})
        with pytest.raises(discord.ConnectionClosed) as closed:
            async with running_bot(fake, settings):
                pass
        assert closed.value.code == CLOSE_SHARDING_REQUIRED
        assert [c.code for c in fake.gateway.closes] == [CLOSE_SHARDING_REQUIRED]
        config = tmp_path / "config.toml"
        config.write_text(config_toml(settings), encoding="utf-8")
        run = await kling_bot("run", "--config", str(config), cwd=tmp_path, env=operator_env())
        assert run.code == 2, run.output
        assert run.stderr.splitlines()[-1] == (
            "✗ Discord wants the bot to run more shards (4011 Sharding required): set "
            "discord.shard_count = 0 to run as many as Discord recommends, or a larger count "
            "in every process."
        )
        assert "Traceback" not in run.output
        # With the count Discord recommends, it runs.
        settings = settings_for(fake, fake_comet, tmp_path / "data", discord={"shard_count": 0})
        async with running_bot(fake, settings) as bot:
            assert bot.running_shards == [0, 1]

"""Two `kling-bot run` processes, one shard each, on one PostgreSQL database and one media_dir:
each takes the commands of its own shard's servers, each writes its own health report (named
after its shards), and `kling-bot tasks` of either shows every task."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to
from bot.fakes.harness import BotProcess, config_toml, settings_for
from tests.helpers.cli import kling_bot, operator_env

pytestmark = pytest.mark.slow


async def test_two_processes_share_one_database_each_running_one_shard(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path, postgresql_url: str
) -> None:
    guilds = [fake_discord.world.add_guild(f"Shard {i}", shard=(i, 2)) for i in (0, 1)]
    configs = []
    for shard_id in (0, 1):
        settings = settings_for(
            fake_discord,
            fake_comet,
            tmp_path / "shared",
            discord={
                "guild_ids": [g.id for g in guilds],
                "shard_count": 2,
                "shard_ids": [shard_id],
            },
            storage={"database": postgresql_url},
        )
        config = tmp_path / f"shard-{shard_id}.toml"
        config.write_text(config_toml(settings), encoding="utf-8")
        configs.append(config)
    processes = [BotProcess(config) for config in configs]
    try:
        for shard_id, process in enumerate(processes):
            await process.start()
            line = await process.wait_for_line(" ready as ")
            assert f" server(s) on shard {shard_id} of 2;" in line
        health_dir = tmp_path / "shared" / "media" / "health"
        env = operator_env()
        for shard_id, config in enumerate(configs):
            health = await kling_bot("health", "--config", str(config), cwd=tmp_path, env=env)
            assert (health.code, health.stdout) == (0, "✓ healthy\n"), health.output
            assert (health_dir / f"shards-{shard_id}.health").is_file()
        for guild in guilds:
            member = fake_discord.world.add_member(guild, f"member-{guild.name}")
            itx = await fake_discord.member(member).run("video", prompt=f"a kite over {guild.name}")
            assert (await itx.wait_ack()).type == 4 and itx.original is not None
            result = await reply_to(fake_discord, itx.original.id)
            assert result.attachments and result.guild_id == guild.id
        tasks = await kling_bot("tasks", "--config", str(configs[1]), cwd=tmp_path, env=env)
        assert tasks.code == 0 and tasks.stdout.count(" delivered ") == 2, tasks.output
        for process in processes:
            assert await process.stop() == 0
        # Each command reached the process of its server's shard, and only that one took it
        # (submitting, tracking and delivering may then happen in either: one database).
        for shard_id, process in enumerate(processes):
            taken = [line for line in process.output if " queued task_id=" in line]
            assert [f"guild_id={guilds[shard_id].id} " in line for line in taken] == [True]
            assert "Traceback" not in "".join(process.output)
    finally:
        for process in processes:
            await process.kill()

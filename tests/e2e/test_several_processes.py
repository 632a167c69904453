"""Three `kling-bot run` processes, one shard each, on one PostgreSQL database.

Members of six guilds (two per shard) make thirty videos; one process is killed with SIGKILL at a
seeded moment while it works on some of them. The other two take its tasks over when its leases
run out (it is restarted only once every video is delivered, so they must), and every task is
still created once, charged once and delivered once.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import InteractionHandle
from bot.fakes.discord.testing import replies_to
from bot.fakes.harness import BotProcess, config_toml, settings_for
from bot.store.sql_store import SqlStore
from tests.helpers.waits import eventually

pytestmark = pytest.mark.slow
SHARDS = 3
TASKS = 30
SEED = int(os.environ.get("CRASH_SEED", "20261202"))
SETTLE_S = 120  # a guard against hangs, not a speed assertion


async def owned_unfinished(store: SqlStore, pid: int) -> list[int]:
    """The unfinished tasks whose lease names the process with this pid."""
    async with store.backend.read() as session:
        rows = await session.all(
            "SELECT id FROM tasks WHERE finished_at IS NULL AND lease_owner LIKE ?",
            (f"%:{pid}:%",),
        )
    return [int(row["id"]) for row in rows]


async def lease_owners(store: SqlStore) -> dict[int, str | None]:
    async with store.backend.read() as session:
        rows = await session.all("SELECT id, lease_owner FROM tasks")
    return {int(row["id"]): row["lease_owner"] for row in rows}


async def test_a_process_killed_mid_run_is_taken_over_and_every_task_happens_once(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path, postgresql_url: str
) -> None:
    rng = random.Random(SEED)
    guilds = [
        fake_discord.world.add_guild(f"Guild {i}", shard=(i % SHARDS, SHARDS)) for i in range(6)
    ]
    fake_comet.set_timings(submitted_s=0.2, processing_s=1.5)
    processes: list[BotProcess] = []
    for shard in range(SHARDS):
        settings = settings_for(
            fake_discord,
            fake_comet,
            tmp_path / f"process-{shard}",
            discord={
                "guild_ids": [g.id for g in guilds],
                "shard_count": SHARDS,
                "shard_ids": [shard],
            },
            omni={"max_concurrent_tasks": 8},
            # One database and one media_dir for all: any process may send a task another took.
            storage={
                "database": postgresql_url,
                "media_dir": str(tmp_path / "media"),
                "lease_seconds": 3,
            },
        )
        config = tmp_path / f"shard-{shard}.toml"
        config.write_text(config_toml(settings), encoding="utf-8")
        processes.append(BotProcess(config))
    store = await SqlStore.open(postgresql_url)
    try:
        await asyncio.gather(*(p.start() for p in processes))  # migrations race: one wins
        await eventually(lambda: len(fake_discord.gateway.live_shards) == SHARDS)

        commands: list[InteractionHandle] = []
        for n in range(TASKS):
            guild = guilds[n % len(guilds)]
            member = fake_discord.world.add_member(guild, f"member-{n}")
            itx = await fake_discord.member(member).run("video", prompt=f"a kite, take {n}")
            assert (await itx.wait_ack()).type == 4
            commands.append(itx)
        status_ids = [itx.original.id for itx in commands if itx.original is not None]
        assert len(status_ids) == TASKS

        # The seeded moment: after a few creates, while the victim works on some tasks.
        victim = processes[rng.randrange(SHARDS)]
        assert victim.process is not None
        pid = victim.process.pid
        creates_before_kill = rng.randint(3, 15)

        async def victim_is_busy() -> list[int]:
            while True:
                if len(fake_comet.accepted_creates()) >= creates_before_kill:
                    owned = await owned_unfinished(store, pid)
                    if len(owned) >= 2:
                        return owned
                await asyncio.sleep(0.02)

        await asyncio.wait_for(victim_is_busy(), SETTLE_S)
        victim.process.kill()
        await victim.process.wait()
        orphans = await owned_unfinished(store, pid)  # what it left: nobody else's yet
        assert orphans
        killed_at = asyncio.get_running_loop().time()
        created_at_kill = len(fake_comet.accepted_creates())

        async def all_delivered() -> None:
            while True:
                tasks = await store.list_tasks(limit=TASKS + 5)
                if len(tasks) == TASKS and all(t.state is TaskState.DELIVERED for t in tasks):
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(all_delivered(), SETTLE_S)
        print(
            f"several processes (seed {SEED}): shard {processes.index(victim)} killed after "
            f"{created_at_kill} creates holding {len(orphans)} unfinished "
            f"tasks; all {TASKS} delivered "
            f"{asyncio.get_running_loop().time() - killed_at:.1f} s later"
        )
        owners = await lease_owners(store)
        # The killed process's unfinished tasks were finished by the others.
        assert all(f":{pid}:" not in str(owners[task_id]) for task_id in orphans)

        await victim.start()  # back, with nothing left to do twice
        tasks = await store.list_tasks(limit=TASKS + 5)
        ledgers = [await store.ledger_for_task(t.id) for t in tasks]
    finally:
        for process in processes:
            await process.kill()
        await store.close()

    creates = Counter(
        str(r.body["external_task_id"])
        for r in fake_comet.accepted_creates()
        if isinstance(r.body, dict)
    )
    assert creates == {t.external_id: 1 for t in tasks}  # created once each
    assert all([e.kind for e in ledger] == ["charge"] for ledger in ledgers)  # charged once
    results = [replies_to(fake_discord, status_id) for status_id in status_ids]
    assert all(len(posted) == 1 and posted[0].attachments for posted in results)  # posted once
    assert {t.guild_id for t in tasks} == {g.id for g in guilds}

"""Part 3 of `bench.processes`: how long the tasks of a SIGKILLed process stay without an owner.

Several `kling-bot run` processes share one PostgreSQL database (`bench.fleet`); the fake
CometAPI keeps every task processing for a day, so tasks stay in flight, each leased by the
process that sent it. A run: members make a few videos (a burst through the fake Discord), all
of them reach the API, a seeded pause (0 to lease/3 seconds: the kill lands anywhere in the
renewal cycle), then SIGKILL to a seeded process among those holding tasks. The bench watches
`SELECT id, lease_owner FROM tasks WHERE finished_at IS NULL` every `WATCH_S` and notes when each
task the dead process held names another owner. Between runs the dead process is started again.

Why the time is what it is: a process renews its leases every lease/3 seconds, so at the kill its
leases have between 2/3 and all of the lease left; a survivor looks for expired leases every
lease/3 seconds. A task is taken over between 2/3 and 4/3 of the lease after the kill, plus
the time of the claim itself (`design_range_s`).
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.ack_latency import NEVER_S, DiscordHost, summarize
from bench.common import log
from bench.fake_host import FakeHost
from bench.fleet import Bot, fleet

WATCH_S = 0.02
COMMANDS_PER_PROCESS = 4
GUARD_S = 60.0  # a guard against a hang, far beyond any lease the bench uses
AT_API = ("submitted", "processing")
SLOTS = 100  # the account's, at the fake and in the bots: every task goes to the API


async def unfinished(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The unfinished tasks and their lease owners (and states)."""
    return list(
        await conn.fetch("SELECT id, state, lease_owner FROM tasks WHERE finished_at IS NULL")
    )


def owner_pid(owner: str | None) -> int | None:
    """The pid in a lease owner (`host:pid:nonce`), None when there is none."""
    if owner is None:
        return None
    return int(owner.split(":")[-2])


async def all_at_api(conn: asyncpg.Connection, expected: int) -> list[asyncpg.Record]:
    """Wait until `expected` unfinished tasks are all at the API, each with an owner."""
    deadline = time.monotonic() + GUARD_S
    rows: list[asyncpg.Record] = []
    while time.monotonic() < deadline:
        rows = await unfinished(conn)
        if len(rows) >= expected and all(
            r["state"] in AT_API and r["lease_owner"] is not None for r in rows
        ):
            return rows
        await asyncio.sleep(WATCH_S)
    seen = collections.Counter(
        f"{r['state']}{'' if r['lease_owner'] else ' (no owner)'}" for r in rows
    )
    raise RuntimeError(
        f"{expected} tasks did not all reach the API within {GUARD_S:g} s: {dict(seen)}"
    )


async def one_kill(
    conn: asyncpg.Connection, bots: list[Bot], rng: random.Random, lease_s: int
) -> tuple[Bot, dict[str, Any]]:
    """Kill a seeded process holding tasks; when (and by whom) each of its tasks was taken."""
    rows = await unfinished(conn)
    holding = [b for b in bots if any(owner_pid(r["lease_owner"]) == b.pid for r in rows)]
    victim = rng.choice(holding)
    pause_s = rng.uniform(0, lease_s / 3)
    await asyncio.sleep(pause_s)
    pid = victim.pid
    killed_at = time.monotonic()
    await victim.kill()
    held = [r["id"] for r in await unfinished(conn) if owner_pid(r["lease_owner"]) == pid]
    taken_at: dict[int, float] = {}
    taken_by: dict[int, int | None] = {}
    while len(taken_at) < len(held) and time.monotonic() - killed_at < GUARD_S:
        await asyncio.sleep(WATCH_S)
        now = time.monotonic()
        for row in await unfinished(conn):
            owner = owner_pid(row["lease_owner"])
            if row["id"] in held and row["id"] not in taken_at and owner != pid:
                taken_at[row["id"]], taken_by[row["id"]] = now, owner
    survivors = {b.pid: n for n, b in enumerate(bots) if b is not victim}
    figures: dict[str, Any] = {
        "killed_process": bots.index(victim),
        "pause_before_kill_s": round(pause_s, 3),
        "tasks_it_held": len(held),
        "tasks_taken_over": len(taken_at),
        "all_taken_over_s": round(max(taken_at.values()) - killed_at, 3)
        if len(taken_at) == len(held) and held
        else None,
        "first_taken_over_s": round(min(taken_at.values()) - killed_at, 3) if taken_at else None,
        "taken_by_process": {
            str(survivors.get(p, "?")): sum(1 for o in taken_by.values() if o == p)
            for p in sorted({o for o in taken_by.values() if o is not None})
        },
    }
    return victim, figures


async def takeover_runs(
    work_dir: Path, *, database: str, processes: int, lease_s: int, runs: int, seed: int
) -> dict[str, Any]:
    """`runs` kills at one lease length, on one fleet (the dead restarted between runs)."""
    rng = random.Random(f"{seed}:{lease_s}")
    comet_options = (
        *("--submitted-s", "0.3", "--processing-s", str(NEVER_S)),
        *("--max-concurrent-tasks", str(SLOTS)),
    )
    killed: list[dict[str, Any]] = []
    async with (
        DiscordHost(members=processes * COMMANDS_PER_PROCESS, shards=processes) as host,
        FakeHost(*comet_options) as comet_url,
        fleet(
            host,
            comet_url,
            work_dir,
            database=database,
            processes=processes,
            shards=processes,
            lease_s=lease_s,
            omni={"max_concurrent_tasks": SLOTS},
        ) as bots,
    ):
        conn = await asyncpg.connect(database)
        try:
            for run in range(runs):
                commands = processes * COMMANDS_PER_PROCESS
                burst = {"op": "burst", "command": "video", "commands": commands}
                seen = await host.ask({**burst, "span_s": 0.5, "wait_s": 10})
                answered = summarize(seen["outcomes"])
                if answered["accepted"] < commands:
                    raise RuntimeError(f"the bots accepted only some commands: {answered}")
                await all_at_api(conn, commands * (run + 1))
                victim, figures = await one_kill(conn, bots, rng, lease_s)
                log.info("processes: lease %s s, run %d: %s", lease_s, run + 1, figures)
                killed.append(figures)
                if run + 1 < runs:
                    await victim.start()  # back for the next run, with a new lease owner id
                    await host.ask({"op": "connected", "shards": processes})
            errors = sum(b.errors for b in bots)
        finally:
            await conn.close()
    times = [k["all_taken_over_s"] for k in killed]
    return {
        "lease_s": lease_s,
        "processes": processes,
        "design_range_s": [round(lease_s * 2 / 3, 2), round(lease_s * 4 / 3, 2)],
        "all_taken_over_s": times,
        "worst_s": None if None in times else max(times),
        "runs": killed,
        "errors_logged_by_the_bots": errors,
    }

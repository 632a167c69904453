"""The fake Discord and its members in a process of their own, for benchmarks of the bot's answers.

`python -m bench.discord_host --members 200` starts a `FakeDiscord` with that many members in the
default guild and prints one JSON line (its URLs and ids). `--shards N` puts them instead in N
servers, one on each shard of N (round robin), for bots that run on several shards or processes;
the JSON line lists them (`guild_ids`). Then it reads one JSON command a line on stdin and
answers each with one JSON line on stdout, until stdin closes:

- `{"op": "connected"}`: waits until a bot's gateway session is up (`"shards": N`: until N
  shards' sessions are).
- `{"op": "burst", "command": "video", "commands": N, "span_s": S, "wait_s": W}`: N members
  (round robin) run `/command prompt:…`, evenly spread over S seconds; then waits up to W seconds
  after the last one for every acknowledgement. Answers each interaction's ack latency as the fake
  measures it (INTERACTION_CREATE dispatched → callback received), whether it was ephemeral, and
  every REST request the bot made from the first dispatch to the last acknowledgement.

The members, the gateway and the REST handlers run here, so their work never shares the event
loop (or the profiler) of the bot under test; only the two processes share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from bot.fakes.discord import FakeDiscord, InteractionHandle
from bot.fakes.discord.interactions import ACK_DEADLINE_S
from bot.fakes.discord.models import Member
from bot.fakes.discord.rest import API_PREFIX

PROMPT = "a paper boat drifting on a pond"


async def burst(
    fake: FakeDiscord, members: list[Member], command: dict[str, Any]
) -> dict[str, Any]:
    """Play the burst with these members (round robin) and report what the fake saw."""
    loop = asyncio.get_running_loop()
    drivers = [fake.member(m) for m in members]
    count, span_s = int(command["commands"]), float(command["span_s"])
    interval_s = span_s / count
    handles: list[InteractionHandle] = []
    lateness: list[float] = []
    probe = asyncio.create_task(probe_lag(lateness))
    first_request = len(fake.state.requests)
    started_wall = fake.clock.now()
    started = loop.time()
    for number in range(count):
        delay = started + number * interval_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        driver = drivers[number % len(drivers)]
        handles.append(await driver.run(command["command"], prompt=f"{PROMPT} #{number}"))
    dispatch_span_s = loop.time() - started
    deadline = loop.time() + float(command["wait_s"])
    await asyncio.gather(*(answered(handle, deadline) for handle in handles))
    probe.cancel()
    acked = [h.record for h in handles if h.record.ack is not None]
    # The burst lasts until the last acknowledgement: the request log up to that callback.
    callbacks = {f"/interactions/{r.id}/{r.token}/callback" for r in acked}
    requests = fake.state.requests[first_request:]
    last = max(
        (i for i, r in enumerate(requests) if r.path.removeprefix(API_PREFIX) in callbacks),
        default=-1,
    )
    during = requests[: last + 1]
    by_route: dict[str, int] = {}
    for record in during:
        key = f"{record.method} {record.route}"
        by_route[key] = by_route.get(key, 0) + 1
    return {
        "dispatch_span_s": round(dispatch_span_s, 3),
        "burst_wall_s": round((during[-1].at if during else started_wall) - started_wall, 3),
        "outcomes": [
            None if h.ack is None else {"latency_s": h.ack.latency_s, "ephemeral": h.ack.ephemeral}
            for h in handles
        ],
        "acknowledged": len(acked),
        "requests_during_burst": dict(sorted(by_route.items(), key=lambda item: -item[1])),
        "rate_limited_during_burst": sum(1 for r in during if r.status == 429),
        # How late this process's own 10 ms sleeps woke: a measuring side that hiccuped.
        "fake_loop_lag_ms": {
            "p99": round(sorted(lateness)[int(len(lateness) * 0.99)] * 1000, 1)
            if lateness
            else None,
            "max": round(max(lateness) * 1000, 1) if lateness else None,
        },
    }


async def probe_lag(lateness: list[float]) -> None:
    """Record how late each 10 ms sleep wakes, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(0.01)
        lateness.append(loop.time() - before - 0.01)


async def answered(handle: InteractionHandle, deadline: float) -> None:
    """Wait (until `deadline`, loop time) for the ack or Discord's 10062 refusal."""
    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    with contextlib.suppress(AssertionError):  # wait_until's "timed out"
        await handle.wait_until(
            lambda r: r.ack is not None or any(e.code == 10062 for e in r.errors),
            timeout_s=remaining,
        )


async def live_shards(fake: FakeDiscord, wanted: int) -> None:
    """Wait until the bot's sessions cover `wanted` shards."""
    gateway = fake.gateway
    await gateway.wait_for(lambda: len(gateway.live_shards) >= wanted, timeout_s=60)


async def serve(members: int, shards: int) -> None:
    """Start the fake, announce it, and answer commands from stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeDiscord() as fake:
        guild = fake.default.guild
        guilds = [fake.world.add_guild(f"Shard {i}", shard=(i, shards)) for i in range(shards)]
        players = [
            fake.world.add_member(guilds[n % len(guilds)] if guilds else guild, f"m-{n:04d}")
            for n in range(members)
        ]
        hello = {
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            "token": fake.token,
            "guild_id": guild.id,
            "guild_ids": [g.id for g in guilds] or [guild.id],
            "ack_deadline_s": ACK_DEADLINE_S,
        }
        print(json.dumps(hello), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            if command["op"] == "connected":
                await live_shards(fake, int(command.get("shards", 1)))
                answer: dict[str, Any] = {"ok": True}
            elif command["op"] == "burst":
                answer = await burst(fake, players, command)
            else:
                answer = {"error": f"unknown op {command['op']!r}"}
            print(json.dumps(answer), flush=True)


def main() -> None:
    """Parse arguments and serve until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.discord_host", description=__doc__)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--shards", type=int, default=0, help="one server on each of N shards")
    args = parser.parse_args()
    asyncio.run(serve(args.members, args.shards))


if __name__ == "__main__":
    main()

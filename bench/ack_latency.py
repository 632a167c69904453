"""How fast the real bot acknowledges `/video` under a burst, next to a bot that does nothing.

`python -m bench.ack_latency [--members 200] [--runs 3] [--scenario A|B] [--profile]`

The bot under test runs in this process, on its own event loop, as `kling-bot run` runs it: the
real `KlingBot` with a SQLite file in a temporary directory. Everything else runs in processes of
its own, as in production: the fake Discord and the members typing the commands
(`bench/discord_host.py`), and a fake CometAPI whose tasks never finish during the run
(`python -m bot.fakes.comet`, so the local queue only grows). Members run `/video` with a short
valid prompt, evenly spread over the scenario's span, round robin. An interaction's ack latency
is what the fake Discord measures in its own process: INTERACTION_CREATE dispatched → callback
received.

Scenarios: A, 100 commands over 1 s (target: p99 < 50 ms); B, 1,000 commands over 10 s (target:
every ack within Discord's 3 s and p99 < 250 ms). Both: at most 1.5 Discord requests per accepted
command during the burst (first dispatch → last acknowledgement; the answers themselves count).
Each scenario runs `--runs` times on a fresh world, database and fakes; every run is reported,
and the spread (min/median/max over runs) of each figure. Quotas are lifted so every command
should be accepted; a command the bot refuses (an ephemeral answer) is counted, not hidden.

Floor: the same scenarios against a minimal discord.py bot whose `/video` only calls
`send_message("ok")`, in this process against the same fake host. The machine's load is
reported with every run: its busy cores during the burst, and how much of that was neither
this process nor the fake host (other people's work on a shared machine).

`--profile` runs cProfile over the KlingBot bursts (this process only: the bot) and prints the
top functions to stderr. Prints one JSON object on stdout; measures, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bench.fake_host import FakeHost
from bot.discord.client import KlingBot
from bot.domain.logs import setup_logging
from bot.fakes.comet import FakeCometConfig
from bot.fakes.discord.testing import running_client
from bot.settings import Settings

NEVER_S = 24 * 3600.0  # fake CometAPI timings: no task leaves the queue during a run
ACK_DEADLINE_S = 3.0  # Discord's
WAIT_AFTER_LAST_S = ACK_DEADLINE_S + 2.0  # after the last dispatch, how long to wait for acks
MAX_REQUESTS_PER_COMMAND = 1.5
# Lifted so that every command is accepted (the caps' maxima allowed by the settings).
QUOTAS = {
    "default_limit": "unlimited",
    "max_in_flight_per_member": 100,
    "max_in_flight_per_server": 1000,
}
Kind = Literal["kling_bot", "floor"]


@dataclass(frozen=True)
class Scenario:
    """A burst: `commands` interactions spread evenly over `span_s`, and its targets."""

    name: str
    commands: int
    span_s: float
    p99_below_ms: float
    all_within_deadline: bool

    @property
    def target(self) -> str:
        """The targets in words."""
        every = f"every ack < {ACK_DEADLINE_S:g} s, " if self.all_within_deadline else ""
        return (
            f"{every}p99 < {self.p99_below_ms:g} ms, "
            f"≤ {MAX_REQUESTS_PER_COMMAND:g} Discord requests per accepted command"
        )


SCENARIOS = (
    Scenario("A", 100, 1.0, p99_below_ms=50, all_within_deadline=False),
    Scenario("B", 1000, 10.0, p99_below_ms=250, all_within_deadline=True),
)


# -- the processes around the bot ------------------------------------------------------------


class DiscordHost:
    """`async with DiscordHost(members) as host:` runs `bench/discord_host.py` meanwhile
    (`shards`: its members in one server on each of that many shards)."""

    def __init__(self, members: int, *, shards: int = 0) -> None:
        self._members = members
        self._shards = shards
        self._process: asyncio.subprocess.Process | None = None
        self.hello: dict[str, Any] = {}

    @property
    def api_base(self) -> str:
        """The fake's REST base URL."""
        return str(self.hello["api_base"])

    @property
    def gateway_url(self) -> str:
        """The fake's gateway URL."""
        return str(self.hello["gateway_url"])

    @property
    def token(self) -> str:
        """The bot token the fake accepts."""
        return str(self.hello["token"])

    @property
    def pid(self) -> int:
        """The host's process id (for its CPU time)."""
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> DiscordHost:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.discord_host",
            "--members",
            str(self._members),
            "--shards",
            str(self._shards),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # a burst's answer is one long line
        )
        self.hello = await self._read()
        return self

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command, return its answer."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()
        return await self._read()

    async def _read(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 120)
        if not line:
            raise RuntimeError("the Discord host ended unexpectedly")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the host stops at the end of its stdin
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()  # our own child, by its handle
            await process.wait()


# -- the floor: a bot that only acknowledges -------------------------------------------------


@app_commands.command(name="video", description="Acknowledge and nothing else")
async def floor_video(interaction: discord.Interaction, prompt: str) -> None:
    """The cheapest possible answer: a type-4 "ok"."""
    await interaction.response.send_message("ok")


class FloorBot(commands.Bot):
    """A minimal discord.py bot with the same intents as KlingBot and a do-nothing `/video`."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True, guild_reactions=True),
            help_command=None,
            guild_ready_timeout=0.1,
        )
        self.guild_id = guild_id

    async def setup_hook(self) -> None:
        """Register `/video` in the test guild."""
        guild = discord.Object(id=self.guild_id)
        self.tree.add_command(floor_video, guild=guild)
        await self.tree.sync(guild=guild)


def kling_settings(
    host: DiscordHost, comet_url: str, data_dir: Path, **sections: dict[str, Any]
) -> Settings:
    """The bot's settings: both fakes, data in `data_dir`, quotas lifted (`sections`: more)."""
    data: dict[str, dict[str, Any]] = {
        "discord": {
            "token": host.token,
            "api_base": host.api_base,
            "gateway_url": host.gateway_url,
            "guild_ids": host.hello["guild_ids"],
        },
        "omni": {"api_key": FakeCometConfig().api_key, "base_url": comet_url},
        "storage": {
            "database": str(data_dir / "kling-bot.sqlite3"),
            "media_dir": str(data_dir / "media"),
        },
        "quotas": dict(QUOTAS),
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return Settings.model_validate(data)


@contextlib.asynccontextmanager
async def bot_under_test(kind: Kind, host: DiscordHost) -> AsyncIterator[None]:
    """The bot, logged in to the host's fake Discord and ready (with its own fake CometAPI)."""
    if kind == "floor":
        async with running_client(host, FloorBot(int(host.hello["guild_id"]))):
            yield
        return
    comet_options = ("--submitted-s", str(NEVER_S), "--processing-s", str(NEVER_S))
    with tempfile.TemporaryDirectory(prefix="ack-latency-") as tmp:
        async with FakeHost(*comet_options) as comet_url:
            settings = kling_settings(host, comet_url, Path(tmp))
            bot = KlingBot(settings, guild_ready_timeout=0.1)
            async with running_client(host, bot):
                yield


# -- the machine -----------------------------------------------------------------------------


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot, from /proc/stat (Linux)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/PID/stat (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """CPU use of the machine, this process and the fake host over one burst."""

    machine_busy: tuple[int, int]
    ours_s: float
    host_s: float
    wall: float

    @classmethod
    def start(cls, host_pid: int) -> Load:
        """Take the first reading."""
        return cls(busy_jiffies(), time.process_time(), process_cpu_s(host_pid), time.monotonic())

    def report(self, host_pid: int) -> dict[str, float]:
        """Busy cores over the burst: all of them, the bot's, the host's, and everyone else's."""
        busy, total = busy_jiffies()
        wall = time.monotonic() - self.wall
        cores = os.cpu_count() or 1
        machine = (busy - self.machine_busy[0]) / max(1, total - self.machine_busy[1]) * cores
        bot = (time.process_time() - self.ours_s) / wall
        host = (process_cpu_s(host_pid) - self.host_s) / wall
        return {
            "machine_busy_cores": round(machine, 2),
            "bot_process_cores": round(bot, 2),
            "fake_discord_process_cores": round(host, 2),
            "others_cores": round(max(0.0, machine - bot - host), 2),
        }


# -- one run ---------------------------------------------------------------------------------


async def one_run(
    kind: Kind, scenario: Scenario, *, members: int, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    """One burst against one bot, on a fresh fake Discord, fake CometAPI and database."""
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    try:
        async with DiscordHost(members) as host, bot_under_test(kind, host):
            await host.ask({"op": "connected"})
            load = Load.start(host.pid)
            lag = LoopLag.start()
            if profiler is not None:
                profiler.enable()
            try:
                seen = await host.ask(
                    {
                        "op": "burst",
                        "command": "video",
                        "commands": scenario.commands,
                        "span_s": scenario.span_s,
                        "wait_s": WAIT_AFTER_LAST_S,
                    }
                )
            finally:
                if profiler is not None:
                    profiler.disable()
            machine = load.report(host.pid)
            lag.stop()
    finally:
        logging.getLogger().removeHandler(errors)
    return {
        **summarize(seen["outcomes"]),
        "median_ms_by_tenth_of_the_burst": by_tenth(seen["outcomes"]),
        "bot_loop_lag_ms": lag.report(),
        "fake_discord_loop_lag_ms": seen["fake_loop_lag_ms"],
        "discord_requests_during_burst": sum(seen["requests_during_burst"].values()),
        "discord_requests_per_accepted_command": requests_per_accepted(seen),
        "discord_requests_by_route": seen["requests_during_burst"],
        "rate_limited_during_burst": seen["rate_limited_during_burst"],
        "dispatch_span_s": seen["dispatch_span_s"],
        "burst_wall_s": seen["burst_wall_s"],
        "load": machine,
        "errors_logged": errors.counts,
    }


class LoopLag:
    """How late a 10 ms sleep on the bot's event loop wakes up: the loop's own delays."""

    def __init__(self) -> None:
        self.late_s: list[float] = []
        self._job: asyncio.Task[None] | None = None

    @classmethod
    def start(cls) -> LoopLag:
        """Start probing."""
        probe = cls()
        probe._job = asyncio.create_task(probe._probe())
        return probe

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            self.late_s.append(loop.time() - before - 0.01)

    def stop(self) -> None:
        """Stop probing."""
        if self._job is not None:
            self._job.cancel()

    def report(self) -> dict[str, float | None]:
        """p99 and max lateness, ms."""
        ranked = sorted(self.late_s)
        return {"p99": _ms(percentile(ranked, 0.99)), "max": _ms(ranked[-1] if ranked else None)}


class ErrorCounter(logging.Handler):
    """Counts ERROR records per logger instead of printing hundreds of tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record."""
        self.counts[record.name] = self.counts.get(record.name, 0) + 1


# -- numbers ---------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float | None], share: float) -> float | None:
    """Nearest-rank percentile; None when it falls among unacknowledged interactions."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def summarize(outcomes: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Latency percentiles (ms) over every interaction, unacknowledged ones counting as slowest."""
    acked = sorted(float(o["latency_s"]) for o in outcomes if o is not None)
    ranked: list[float | None] = [*acked, *([None] * (len(outcomes) - len(acked)))]
    return {
        "commands": len(outcomes),
        "acknowledged": len(acked),
        "accepted": sum(1 for o in outcomes if o is not None and not o["ephemeral"]),
        "refused_privately": sum(1 for o in outcomes if o is not None and o["ephemeral"]),
        "missed_3s": len(outcomes) - sum(1 for v in acked if v < ACK_DEADLINE_S),
        "p50_ms": _ms(percentile(ranked, 0.50)),
        "p90_ms": _ms(percentile(ranked, 0.90)),
        "p99_ms": _ms(percentile(ranked, 0.99)),
        "max_ms": _ms(ranked[-1]) if ranked else None,
    }


def by_tenth(outcomes: Sequence[dict[str, Any] | None]) -> list[float | None]:
    """Median ack latency (ms) of each tenth of the burst, in dispatch order (None: missed)."""
    size = max(1, len(outcomes) // 10)
    medians = []
    for start in range(0, len(outcomes), size):
        chunk = outcomes[start : start + size]
        acked = sorted(float(o["latency_s"]) for o in chunk if o is not None)
        ranked: list[float | None] = [*acked, *([None] * (len(chunk) - len(acked)))]
        medians.append(_ms(percentile(ranked, 0.5)))
    return medians


def requests_per_accepted(seen: dict[str, Any]) -> float | None:
    """Discord requests during the burst per command the bot accepted (answered publicly)."""
    accepted = sum(1 for o in seen["outcomes"] if o is not None and not o["ephemeral"])
    if not accepted:
        return None
    return round(sum(seen["requests_during_burst"].values()) / accepted, 3)


SPREAD_KEYS = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "missed_3s",
    "discord_requests_per_accepted_command",
)


def spread(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each figure's min, median and max over the runs (None anywhere: None)."""
    table: dict[str, dict[str, float | None]] = {}
    for key in SPREAD_KEYS:
        values = [run[key] for run in runs]
        if any(v is None for v in values):
            table[key] = {"min": None, "median": None, "max": None}
        else:
            table[key] = {
                "min": min(values),
                "median": round(statistics.median(values), 3),
                "max": max(values),
            }
    return table


def passes(scenario: Scenario, run: dict[str, Any]) -> bool:
    """Whether one KlingBot run meets every target of the scenario (and refused nothing)."""
    if run["refused_privately"] or run["acknowledged"] < run["commands"]:
        return False
    if scenario.all_within_deadline and run["missed_3s"]:
        return False
    per_command = run["discord_requests_per_accepted_command"]
    p99 = run["p99_ms"]
    return (
        p99 is not None
        and p99 < scenario.p99_below_ms
        and per_command is not None
        and per_command <= MAX_REQUESTS_PER_COMMAND
    )


# -- entry point -----------------------------------------------------------------------------


async def main_async(args: argparse.Namespace, profiler: cProfile.Profile | None) -> dict[str, Any]:
    """Every scenario against the floor, then against KlingBot, `runs` times each; the report."""
    report: dict[str, Any] = {
        "benchmark": "ack_latency",
        "setup": {
            "members": args.members,
            "runs": args.runs,
            "fake_comet_task_s": NEVER_S,
            "quotas": QUOTAS,
            "processes": "bot here; fake Discord + members, and fake CometAPI, one process each",
            "measured_by": "fake Discord: INTERACTION_CREATE dispatch → callback received",
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
            "discord_py": discord.__version__,
        },
        "scenarios": {},
    }
    for scenario in (s for s in SCENARIOS if s.name in args.scenario):
        floor, ours = [], []
        for _ in range(args.runs):  # interleaved: a change of load hits both alike
            floor.append(await one_run("floor", scenario, members=args.members, profiler=None))
            ours.append(
                await one_run("kling_bot", scenario, members=args.members, profiler=profiler)
            )
        verdicts = [passes(scenario, run) for run in ours]
        report["scenarios"][scenario.name] = {
            "commands": scenario.commands,
            "span_s": scenario.span_s,
            "target": scenario.target,
            "pass_every_run": all(verdicts),
            "kling_bot": {"spread": spread(ours), "pass_per_run": verdicts, "runs": ours},
            "floor_send_message_only": {"spread": spread(floor), "runs": floor},
        }
    report["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    report["pass"] = all(s["pass_every_run"] for s in report["scenarios"].values())
    return report


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scenario", choices=[s.name for s in SCENARIOS], action="append", help="default: all"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the KlingBot runs (top 40 on stderr)"
    )
    parser.add_argument(
        "--log", type=Path, help="the bot's log, at INFO as `kling-bot run` logs (default: none)"
    )
    args = parser.parse_args(argv)
    args.scenario = args.scenario or [s.name for s in SCENARIOS]
    # The bot logs as `kling-bot run` does (INFO, secrets scrubbed): the cost of its log lines
    # is part of the answer. Errors are also counted into the report (see ErrorCounter).
    setup_logging("INFO", secrets=[FakeCometConfig().api_key])
    with contextlib.ExitStack() as files:
        log_file = files.enter_context(open(args.log or os.devnull, "a", encoding="utf-8"))
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log_file)
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        report = asyncio.run(main_async(args, profiler))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["setup"]["bot_log"] = "INFO, as kling-bot run, to " + str(args.log or os.devnull)
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)
            print(out.getvalue(), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

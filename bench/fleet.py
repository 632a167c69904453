"""Several `kling-bot run` processes on one database, against the fakes of `bench.ack_latency`.

`fleet(...)` starts N processes as an operator would (a config file each, `python -m bot.cli.main
run`), splitting `shards` shards between them, all on one `storage.database` and one media_dir,
logged in to a fake Discord in its own process (`DiscordHost`, one server on each shard) and
using a fake CometAPI in another (`FakeHost`). The processes log at INFO as `kling-bot run`
does; their output is read all along (a pipe nobody reads fills up and stalls the logging bot)
and their ERROR lines are counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.ack_latency import DiscordHost, busy_jiffies, kling_settings, process_cpu_s
from bot.fakes.harness import BotProcess, config_toml


class Bot(BotProcess):
    """`kling-bot run`, ready (commands synced, every shard of it connected) when started."""

    def __init__(self, config: Path) -> None:
        super().__init__(config)
        self.errors = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        """Start it, wait until it is ready, then keep reading its output."""
        await super().start()
        await self.wait_for_line(" ready as ")
        self._reader = asyncio.create_task(self._read_on())

    async def _read_on(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            line = raw.decode(errors="replace")
            self.errors += " ERROR " in line
            self.tail.append(line)

    async def _stop_reading(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout_s: float = 60.0) -> int:
        """Stop it with `sig` (SIGTERM: cleanly) and wait for its end."""
        await self._stop_reading()
        return await super().stop(sig, timeout_s=timeout_s)

    async def kill(self) -> None:
        """SIGKILL, if it still runs."""
        await self._stop_reading()
        await super().kill()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.returncode is None


def split_shards(shards: int, processes: int) -> list[list[int]]:
    """The shard ids of each process: 4 shards on 2 processes are [0, 2] and [1, 3]."""
    return [list(range(shards))[p::processes] for p in range(processes)]


@contextlib.asynccontextmanager
async def fleet(
    host: DiscordHost,
    comet_url: str,
    work_dir: Path,
    *,
    database: str,
    processes: int,
    shards: int,
    lease_s: int = 6,
    omni: dict[str, Any] | None = None,
) -> AsyncIterator[list[Bot]]:
    """`processes` bots sharing `shards` shards and one database, started together and ready."""
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    bots = []
    for number, shard_ids in enumerate(split_shards(shards, processes)):
        settings = kling_settings(
            host,
            comet_url,
            work_dir / f"process-{number}",
            discord={"shard_count": shards, "shard_ids": shard_ids},
            omni=omni or {},
            storage={
                "database": database,
                "media_dir": str(work_dir / "media"),
                "lease_seconds": lease_s,
            },
        )
        config = work_dir / f"process-{number}.toml"
        config.write_text(config_toml(settings), encoding="utf-8")
        bots.append(Bot(config))
    try:
        await asyncio.gather(*(bot.start() for bot in bots))
        await host.ask({"op": "connected", "shards": shards})
        yield bots
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots if bot.running), return_exceptions=True)
        for bot in bots:
            await bot.kill()


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its backends among them)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text(encoding="ascii").strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


def _cpu_of(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a backend that ended meanwhile
            total += process_cpu_s(pid)
    return total


@dataclass
class CpuWindow:
    """Busy cores over a stretch of time: the machine's, the bots', the fake Discord's, the
    PostgreSQL server's (when it runs here; backends started meanwhile included), and everyone
    else's."""

    machine: tuple[int, int]
    cpu_s: dict[str, dict[int, float]]  # group → pid → CPU seconds at the start
    started: float

    @staticmethod
    def _groups(bots: Sequence[Bot], host: DiscordHost) -> dict[str, list[int]]:
        return {
            "bot_processes": [bot.pid for bot in bots if bot.running],
            "fake_discord_process": [host.pid],
            "postgresql_server": postgres_pids(),
        }

    @classmethod
    def start(cls, bots: Sequence[Bot], host: DiscordHost) -> CpuWindow:
        """The first reading."""
        groups = cls._groups(bots, host)
        cpu_s = {name: {pid: _cpu_of([pid]) for pid in pids} for name, pids in groups.items()}
        return cls(busy_jiffies(), cpu_s, time.monotonic())

    def report(self, bots: Sequence[Bot], host: DiscordHost) -> dict[str, float]:
        """Cores used since `start` (a process started meanwhile: all of its CPU time)."""
        wall = max(time.monotonic() - self.started, 1e-6)
        busy, total = busy_jiffies()
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * (os.cpu_count() or 1)
        cores = {}
        for name, pids in self._groups(bots, host).items():
            before = self.cpu_s[name]
            # A process that ended meanwhile reads as 0: its share is lost, never negative.
            used = sum(max(0.0, _cpu_of([pid]) - before.get(pid, 0.0)) for pid in {*pids, *before})
            cores[f"{name}_cores"] = round(used / wall, 2)
        others = max(0.0, machine - sum(cores.values()))
        return {"machine_busy_cores": round(machine, 2), **cores, "others_cores": round(others, 2)}


class LockWaits:
    """How often, during a burst, some PostgreSQL backend of the database waited for an advisory
    lock (a server's quota lock, or the account's slot lock): sampled every `every_s`."""

    QUERY = (
        "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
        "WHERE locktype = 'advisory' AND NOT granted AND d.datname = current_database()"
    )

    def __init__(self, every_s: float = 0.01) -> None:
        self.every_s = every_s
        self.samples: list[int] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def sampling(cls, database: str | None) -> AsyncIterator[LockWaits]:
        """Sample while the block runs (nothing when `database` is not PostgreSQL)."""
        waits = cls()
        if database is None:
            yield waits
            return
        conn = await asyncpg.connect(database)
        job = asyncio.create_task(waits._sample(conn))
        try:
            yield waits
        finally:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            await conn.close()

    async def _sample(self, conn: asyncpg.Connection) -> None:
        while True:
            self.samples.append(int(await conn.fetchval(self.QUERY)))
            await asyncio.sleep(self.every_s)

    def report(self) -> dict[str, Any]:
        """The share of samples with a waiter, and the mean number of waiters."""
        if not self.samples:
            return {}
        n = len(self.samples)
        return {
            "advisory_lock_waits": {
                "samples": n,
                "share_with_a_waiter": round(sum(1 for v in self.samples if v) / n, 3),
                "mean_waiting_backends": round(sum(self.samples) / n, 2),
            }
        }

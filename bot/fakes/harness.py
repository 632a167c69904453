"""The whole product on loopback: fake Discord + fake CometAPI + the real bot (demo and tests).

The bot runs in-process (`running_bot`) or as an operator runs it (`BotProcess`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.discord.client import KlingBot
from bot.domain.clock import Clock
from bot.engine.clock import ScaledClock
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import running_client
from bot.settings import Settings


def settings_for(
    discord_fake: FakeDiscord,
    comet: FakeCometAPI,
    data_dir: Path,
    **sections: dict[str, Any],
) -> Settings:
    """Settings that point the bot at both fakes and keep its data in `data_dir`."""
    data: dict[str, dict[str, Any]] = {
        "discord": {
            "token": discord_fake.token,
            "api_base": discord_fake.api_base,
            "gateway_url": discord_fake.gateway_url,
            "guild_ids": [discord_fake.default.guild.id],
        },
        "omni": {"api_key": comet.config.api_key, "base_url": comet.base_url},
        "storage": {
            "database": str(data_dir / "kling-bot.sqlite3"),
            "media_dir": str(data_dir / "media"),
        },
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return Settings.model_validate(data)


def config_toml(settings: Settings) -> str:
    """The settings as a config file, for running the bot as a subprocess (`kling-bot run`)."""
    lines: list[str] = []
    dumped = settings.model_dump(mode="json")
    dumped["discord"]["token"] = settings.discord.token.get_secret_value()
    dumped["omni"]["api_key"] = settings.omni.api_key.get_secret_value()
    cost = dumped["quotas"].pop("cost")
    for section, values in dumped.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
        if section == "quotas":
            lines.append("[quotas.cost]")
            lines.extend(f"{key} = {_toml(value)}" for key, value in cost.items())
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


TEST_TIME_SCALE = 0.05
_FAST_CLOCKS: weakref.WeakKeyDictionary[object, ScaledClock] = weakref.WeakKeyDictionary()


def fast_clock_of(fake: object, scale: float = TEST_TIME_SCALE) -> ScaledClock:
    """The compressed clock of everything that runs against this fake (made on first use): a
    bot or engine restarted against it goes on at the same time instead of going back."""
    return _FAST_CLOCKS.setdefault(fake, ScaledClock(scale))


@contextlib.asynccontextmanager
async def running_bot(
    discord_fake: FakeDiscord, settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[KlingBot]:
    """The real bot, logged in to the fake Discord and ready; closed cleanly afterwards.

    Its engine runs on `clock`, by default 20× faster than the wall clock: the same clock for
    every bot on this fake Discord, so a bot restarted in a test goes on at the same time.
    """
    clock = clock or fast_clock_of(discord_fake)
    bot = KlingBot(settings, clock=clock, guild_ready_timeout=0.1)
    async with running_client(discord_fake, bot):
        yield bot


class BotProcess:
    """`kling-bot run --config FILE` in its own process, as an operator runs it."""

    def __init__(
        self,
        config: Path,
        *,
        ready_timeout_s: float = 60.0,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.ready_timeout_s = ready_timeout_s
        self.environment = environment or {}  # added to this process's (e.g. a pause point)
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []  # every line the bot printed (logs go to stderr → here)

    async def start(self) -> None:
        """Start the bot and wait until it has resumed its tasks and synced its commands."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli.main",
            "run",
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.environment},
        )
        await self.wait_for_line("synced", timeout_s=self.ready_timeout_s)

    async def wait_for_line(self, needle: str, *, timeout_s: float = 60.0) -> str:
        """Read the bot's output until a line contains `needle`; return that line."""
        assert self.process is not None and self.process.stdout is not None
        for line in self.output:
            if needle in line:
                return line
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
            if not raw:
                raise AssertionError(f"the bot exited before {needle!r}:\n" + "".join(self.output))
            self.output.append(raw.decode(errors="replace"))
            if needle in self.output[-1]:
                return self.output[-1]

    async def stop(self, sig: signal.Signals = signal.SIGTERM, *, timeout_s: float = 60.0) -> int:
        """Send `sig` and wait for the process to end; return its exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        stdout, _ = await asyncio.wait_for(self.process.communicate(), timeout_s)
        self.output.append(stdout.decode(errors="replace"))
        assert self.process.returncode is not None
        return self.process.returncode

    async def kill(self) -> None:
        """SIGKILL, if it still runs (cleanup after a failed test)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

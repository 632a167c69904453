"""The whole product on loopback: fake Discord + fake CometAPI + the real bot (demo and tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.app import KlingBot
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


@contextlib.asynccontextmanager
async def running_bot(
    discord_fake: FakeDiscord, settings: Settings, *, time_scale: float = 0.05
) -> AsyncIterator[KlingBot]:
    """The real bot, logged in to the fake Discord and ready; closed cleanly afterwards."""
    bot = KlingBot(settings, time_scale=time_scale, guild_ready_timeout=0.1)
    async with running_client(discord_fake, bot):
        yield bot

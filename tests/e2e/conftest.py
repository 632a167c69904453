"""Fixtures for end-to-end tests: the fake Discord, the fake CometAPI, and the real bot.

`kling_bot` is the real KlingBot (discord.py) logged in to `fake_discord` and talking to
`fake_comet`, with its data in the test's tmp_path; a test plays members through
`fake_discord.member(...)` and asserts on what the channel shows and what the API received.
Change the bot's config with `bot_config` (a dict of sections) before `kling_bot` is built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import running_client
from bot.fakes.harness import BotProcess, config_toml, running_bot, settings_for
from bot.settings import Settings


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with the default world (guild "Test Server", #general …)."""
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def discord_client(
    fake_discord: FakeDiscord, discord_client_factory: Callable[[FakeDiscord], discord.Client]
) -> AsyncIterator[discord.Client]:
    """The client from the module's ``discord_client_factory`` fixture, logged in and ready."""
    client = discord_client_factory(fake_discord)
    async with running_client(fake_discord, client) as ready:
        yield ready


@pytest.fixture
async def fake_comet() -> AsyncIterator[FakeCometAPI]:
    """A started fake CometAPI with short timings (about half a second per video)."""
    async with FakeCometAPI(FakeCometConfig(submitted_s=0.1, processing_s=0.4)) as comet:
        yield comet


@pytest.fixture
def bot_config() -> dict[str, dict[str, Any]]:
    """Config sections to change for this test, e.g. {"quotas": {"default_limit": 1}}."""
    return {}


@pytest.fixture
def bot_settings(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    tmp_path: Path,
    bot_config: dict[str, dict[str, Any]],
) -> Settings:
    """Settings pointing the bot at both fakes, data under tmp_path."""
    return settings_for(fake_discord, fake_comet, tmp_path / "bot-data", **bot_config)


@pytest.fixture
async def kling_bot(fake_discord: FakeDiscord, bot_settings: Settings) -> AsyncIterator[KlingBot]:
    """The real bot, logged in to the fake Discord and ready."""
    async with running_bot(fake_discord, bot_settings) as bot:
        yield bot


@pytest.fixture
async def bot_process(bot_settings: Settings, tmp_path: Path) -> AsyncIterator[BotProcess]:
    """The real bot as a subprocess (`kling-bot run --config FILE`), started and ready."""
    config = tmp_path / "config.toml"
    config.write_text(config_toml(bot_settings), encoding="utf-8")
    process = BotProcess(config)
    await process.start()
    try:
        yield process
    finally:
        await process.kill()

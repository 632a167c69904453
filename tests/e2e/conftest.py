"""Fixtures for end-to-end tests against the loopback fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import discord
import pytest

from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import running_client


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

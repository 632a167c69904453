"""Helpers for tests that run the real discord.py client against FakeDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Protocol

import discord
import discord.gateway
import discord.http
import yarl

from bot.fakes.discord.interaction_handle import InteractionHandle
from bot.fakes.discord.messages import Message
from bot.fakes.discord.server import FakeDiscord


def point_discord_py_at(api_base: str, gateway_url: str) -> None:
    """Send discord.py's REST calls and first gateway connection to these URLs (process-wide)."""
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class DiscordAddress(Protocol):
    """Where a Discord-compatible server answers: a FakeDiscord here or in another process."""

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        ...

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        ...

    @property
    def token(self) -> str:
        """The bot token it accepts."""
        ...


@contextlib.contextmanager
def discord_py_pointed_at(fake: DiscordAddress) -> Iterator[None]:
    """``point_discord_py_at`` the fake for a block, then restore the previous URLs."""
    previous = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    point_discord_py_at(fake.api_base, fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = previous


async def _no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
    """Stands in for discord.py's hook, which sleeps 5 s before every re-IDENTIFY."""


@contextlib.asynccontextmanager
async def running_client(
    fake: DiscordAddress, client: discord.Client, *, ready_timeout_s: float = 10.0
) -> AsyncIterator[discord.Client]:
    """Log ``client`` in to the fake, connect it, wait for on_ready; close it afterwards.

    Fails fast (instead of timing out) if the client dies while connecting, e.g. on a
    missing key in a gateway payload.
    """
    # The real hook sleeps 5 s before re-identifying; tests of session loss must not wait.
    client.before_identify_hook = _no_identify_delay  # type: ignore[method-assign]
    with discord_py_pointed_at(fake):
        await client.login(fake.token)
        connection = asyncio.create_task(client.connect(reconnect=True))
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {connection, ready}, timeout=ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if connection in done:
                connection.result()  # re-raises whatever killed the client
                raise AssertionError("the client disconnected before it was ready")
            if ready not in done:
                raise AssertionError(f"the client was not ready after {ready_timeout_s}s")
            yield client
        finally:
            ready.cancel()
            await client.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(connection, timeout=5)


def assert_pings(
    message: Message,
    *,
    users: Iterable[int] = (),
    roles: Iterable[int] = (),
    everyone: bool = False,
) -> None:
    """Assert exactly who the message notifies (after allowed_mentions)."""
    pings = message.pings()
    expected = (frozenset(users), frozenset(roles), everyone)
    actual = (pings.user_ids, pings.role_ids, pings.everyone)
    assert actual == expected, f"message {message.id} pings {actual}, expected {expected}"


def render(messages: Iterable[Message]) -> str:
    """What a member would see, as plain text (for the demo and failure messages)."""
    lines = []
    for message in messages:
        flags = [
            f
            for f, on in (
                ("ephemeral", message.is_ephemeral),
                ("thinking…", message.is_loading),
                ("edited", bool(message.history)),
            )
            if on
        ]
        reply = f" ↪ {message.reference_id}" if message.reference_id else ""
        head = f"[{message.author.username}{reply}{' (' + ', '.join(flags) + ')' if flags else ''}]"
        lines.append(f"{head} {message.content}".rstrip())
        for embed in message.embeds:
            lines.append(f"  ▌{embed.get('title', '')}: {embed.get('description', '')}")
        for attachment in message.attachments:
            lines.append(f"  📎 {attachment.filename} ({attachment.size_bytes} bytes)")
        for emoji, users in message.reactions.items():
            if users:
                lines.append(f"  {emoji} × {len(users)}")
    return "\n".join(lines)


def replies_to(fake: FakeDiscord, message_id: int) -> list[Message]:
    """Every message that replies to `message_id`, in any channel, oldest first."""
    return [
        m
        for m in fake.state.messages.values()
        if m.reference_id == message_id and not m.is_ephemeral and not m.deleted
    ]


async def reply_to(fake: FakeDiscord, message_id: int, *, timeout_s: float = 30.0) -> Message:
    """Wait for the first reply to a message (a status message's result, a result's rerun)."""

    async def first() -> Message:
        while True:  # the fake's state is plain data: look again after each loop turn
            found = replies_to(fake, message_id)
            if found:
                return found[0]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(first(), timeout_s)


async def result_of(
    fake: FakeDiscord, status_id: int, *, emoji: str = "🔁", timeout_s: float = 30.0
) -> Message:
    """Wait for a status message's result and the bot's own 🔁 on it: what a member clicks."""
    result = await reply_to(fake, status_id, timeout_s=timeout_s)

    async def reacted() -> None:
        while True:  # the fake's state is plain data: look again after each loop turn
            if fake.bot_user.id in fake.message(result.id).reactions.get(emoji, []):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reacted(), timeout_s)
    return fake.message(result.id)


async def private_text(handle: InteractionHandle, *, timeout_s: float = 30.0) -> str:
    """Wait for the latest private (ephemeral) answer to an interaction and return its text."""

    async def latest() -> str:
        while True:  # the fake's state is plain data: look again after each loop turn
            private = [m for m in handle.messages if m.is_ephemeral]
            if private:
                return private[-1].content
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(latest(), timeout_s)

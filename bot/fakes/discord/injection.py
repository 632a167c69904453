"""Failures a test injects into the fake Discord: 429s, errors, stalls and dropped connections."""

from __future__ import annotations

import asyncio

from bot.fakes.discord.models import Channel
from bot.fakes.discord.recording import DROPPED, Injection
from bot.fakes.discord.state import FakeState


class FailureInjection:
    """The failure-injection part of `FakeDiscord`'s control API (its `state` keeps them)."""

    state: FakeState

    def inject_429(
        self,
        route: str | None = None,
        *,
        method: str | None = None,
        times: int = 1,
        retry_after_s: float = 0.05,
        is_global: bool = False,
        scope: str = "user",
        channel: Channel | None = None,
    ) -> Injection:
        """Answer the next ``times`` matching requests (about ``channel``, if given) with a 429
        discord.py will retry."""
        injection = Injection(method, route, 429, 0, times, retry_after_s, is_global, scope)
        injection.channel_id = None if channel is None else channel.id
        self.state.injections.append(injection)
        return injection

    def stall(
        self,
        route: str | None,
        *,
        method: str | None = None,
        channel: Channel | None = None,
        times: int = 1_000_000,
    ) -> Injection:
        """Hold matching requests (about ``channel``, if given) until ``release()``, then answer
        them as usual: a channel Discord serves slowly, an upload that takes minutes."""
        injection = Injection(method, route, 0, 0, times, stall=asyncio.Event())
        injection.channel_id = None if channel is None else channel.id
        self.state.injections.append(injection)
        return injection

    def inject_error(
        self,
        route: str | None,
        *,
        status: int,
        code: int = 0,
        method: str | None = None,
        times: int = 1,
    ) -> Injection:
        """Answer the next ``times`` matching requests with an error (e.g. 500, or 403/50013)."""
        injection = Injection(method, route, status, code, times)
        self.state.injections.append(injection)
        return injection

    def inject_disconnect(
        self, route: str | None, *, method: str | None = None, times: int = 1
    ) -> Injection:
        """Drop the connection of the next ``times`` matching requests without an answer and
        without handling them (discord.py raises a network error, not an HTTPException)."""
        injection = Injection(method, route, DROPPED, 0, times)
        self.state.injections.append(injection)
        return injection

"""What the fake Discord was asked (the request log) and what it was told to fail (injections)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

DROPPED = 0  # the status of a request whose connection was dropped without an answer


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake answered (the Authorization header is never kept whole)."""

    method: str
    route: str
    path: str
    query: str
    status: int  # DROPPED (0): the connection was dropped without an answer
    code: int | None
    at: float
    auth: str
    payload: Any = None


@dataclass
class Injection:
    """A canned failure for the next ``remaining`` requests matching ``method`` and ``route``.

    ``status`` 0 drops the connection without an answer (a network error, not an HTTP one).
    """

    method: str | None
    route: str | None
    status: int
    code: int = 0
    remaining: int = 1
    retry_after_s: float = 0.05
    is_global: bool = False
    scope: str = "user"
    hits: list[str] = field(default_factory=list)
    channel_id: int | None = None  # only requests about this channel (None: any)
    # A stall holds matching requests (then answers them normally) until `release()`: a slow
    # upload, a channel Discord is slow to serve.
    stall: asyncio.Event | None = None

    def matches(self, method: str, route: str, channel_id: str | None = None) -> bool:
        """Whether a request (route relative to the API base) is targeted."""
        if self.remaining <= 0:
            return False
        if self.channel_id is not None and channel_id != str(self.channel_id):
            return False
        return self.method in (None, method) and self.route in (None, route)

    def release(self) -> None:
        """Let the stalled requests through (and stop stalling new ones)."""
        self.remaining = 0
        if self.stall is not None:
            self.stall.set()

"""Discord's rate limits, enforced: per-route buckets per top-level resource, and the global one.

Discord (https://discord.com/developers/docs/topics/rate-limits) counts requests in buckets: routes
that share a limit share a bucket (`X-RateLimit-Bucket`), and each bucket is counted per top-level
resource (a channel, a guild, a webhook or interaction token). Every answer carries the bucket's
`X-RateLimit-Limit`, `-Remaining`, `-Reset`, `-Reset-After` and `-Bucket`; a request over the limit
gets a 429 with `retry_after` and `X-RateLimit-Scope: user`. Bot-token routes also share the global
limit of 50 requests a second; interaction callbacks and token routes are exempt from it.

The numbers are the ones Discord announces for these routes today (5 messages or edits per 5 s
per channel, a reaction per 250 ms); a bot must read them from the headers, never hard-code them,
so a test may change them (`RateLimits(rules=…)`). Windows are fixed: they start with the first
request after the previous one ended.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

GLOBAL_PER_S = 50


@dataclass(frozen=True)
class BucketRule:
    """`limit` requests per `window_s` seconds, counted per value of the route's major parameter."""

    name: str
    limit: int
    window_s: float

    @property
    def bucket_hash(self) -> str:
        """The opaque id Discord sends as `X-RateLimit-Bucket` (the same for shared routes)."""
        return hashlib.sha1(self.name.encode()).hexdigest()[:16]


MESSAGE_SEND = BucketRule("message-send", 5, 5.0)
MESSAGE_EDIT = BucketRule("message-edit", 5, 5.0)
MESSAGE_DELETE = BucketRule("message-delete", 5, 1.0)
REACTION = BucketRule("reaction", 1, 0.25)
HISTORY = BucketRule("history", 5, 1.0)
WEBHOOK = BucketRule("interaction-webhook", 5, 2.0)
OTHER = BucketRule("other", 50, 1.0)

# (method, route template relative to the API base) → its bucket. Anything else: OTHER, per route.
DISCORD_RULES: dict[tuple[str, str], BucketRule] = {
    ("POST", "/channels/{channel_id}/messages"): MESSAGE_SEND,
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): MESSAGE_EDIT,
    ("DELETE", "/channels/{channel_id}/messages/{message_id}"): MESSAGE_DELETE,
    ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"): REACTION,
    ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user}"): REACTION,
    ("GET", "/channels/{channel_id}/messages"): HISTORY,
    ("POST", "/webhooks/{app_id}/{token}"): WEBHOOK,
    ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}"): WEBHOOK,
    ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}"): WEBHOOK,
    ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}"): WEBHOOK,
}
# Not rate limited here: the answer to an interaction has its own 3 s rule and no bucket.
EXEMPT_ROUTES = frozenset({"/interactions/{interaction_id}/{token}/callback"})
_MAJOR_PARAMETERS = ("channel_id", "guild_id", "token")


@dataclass
class _Window:
    started_at: float
    used: int = 0


@dataclass(frozen=True)
class Verdict:
    """Whether a request may be answered, and the headers of its bucket."""

    allowed: bool
    headers: dict[str, str]
    retry_after_s: float = 0.0
    is_global: bool = False


@dataclass
class RateLimits:
    """Counts requests per bucket and resource, and says when one is over the limit."""

    rules: dict[tuple[str, str], BucketRule] = field(default_factory=lambda: dict(DISCORD_RULES))
    global_per_s: int = GLOBAL_PER_S
    monotonic: Callable[[], float] = time.monotonic
    # For `X-RateLimit-Reset` (epoch seconds): real time, never a test's moved clock, as the bot
    # waits for it on its own clock.
    wall: Callable[[], float] = time.time
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _global: _Window | None = None

    def check(self, method: str, route: str, params: dict[str, str]) -> Verdict | None:
        """Count one request; None for a route with no bucket (the interaction callback)."""
        if route in EXEMPT_ROUTES:
            return None
        rule = self.rules.get((method, route)) or BucketRule(
            f"{OTHER.name} {method} {route}", OTHER.limit, OTHER.window_s
        )
        major = next((params[p] for p in _MAJOR_PARAMETERS if p in params), "")
        now = self.monotonic()
        is_bot_route = not route.startswith(("/webhooks/", "/interactions/"))
        if is_bot_route:
            over = self._count_global(now)
            if over is not None:
                return Verdict(False, {}, retry_after_s=over, is_global=True)
        window = self._windows.get((rule.name, major))
        if window is None or now >= window.started_at + rule.window_s:
            window = self._windows[(rule.name, major)] = _Window(now)
        # Never "0": discord.py then falls back to `X-RateLimit-Reset`.
        reset_after = max(0.001, window.started_at + rule.window_s - now)
        allowed = window.used < rule.limit
        if allowed:
            window.used += 1
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Remaining": str(rule.limit - window.used),
            "X-RateLimit-Reset": f"{self.wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": rule.bucket_hash,
        }
        return Verdict(allowed, headers, retry_after_s=0.0 if allowed else reset_after)

    def _count_global(self, now: float) -> float | None:
        """Count against the global limit; the seconds to wait when it is used up."""
        if self._global is None or now >= self._global.started_at + 1.0:
            self._global = _Window(now)
        if self._global.used >= self.global_per_s:
            return self._global.started_at + 1.0 - now
        self._global.used += 1
        return None

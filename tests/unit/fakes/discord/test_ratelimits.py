"""The fake Discord's rate limits as pure rules: buckets per resource, windows, the global limit."""

from __future__ import annotations

from bot.fakes.discord.ratelimits import RateLimits

EDIT = ("PATCH", "/channels/{channel_id}/messages/{message_id}")
SEND = ("POST", "/channels/{channel_id}/messages")
CALLBACK = ("POST", "/interactions/{interaction_id}/{token}/callback")
FOLLOWUP = ("POST", "/webhooks/{app_id}/{token}")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock, *, global_per_s: int = 50) -> RateLimits:
    return RateLimits(global_per_s=global_per_s, monotonic=clock, wall=lambda: 1_700_000_000.0)


def in_channel(channel: int, message: int = 1) -> dict[str, str]:
    return {"channel_id": str(channel), "message_id": str(message)}


def test_five_edits_per_five_seconds_per_channel_then_a_new_window() -> None:
    clock = Clock()
    rules = limits(clock)
    verdicts = [rules.check(*EDIT, in_channel(7, n)) for n in range(6)]
    assert [v is not None and v.allowed for v in verdicts] == [True] * 5 + [False]
    refused = verdicts[5]
    assert refused is not None and refused.retry_after_s == 5.0
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == "1700000005.000"
    other = rules.check(*EDIT, in_channel(8))  # another channel: its own window
    assert other is not None and other.allowed
    clock.now += 4.9
    still = rules.check(*EDIT, in_channel(7))
    assert still is not None and not still.allowed and round(still.retry_after_s, 3) == 0.1
    clock.now += 0.1
    again = rules.check(*EDIT, in_channel(7))
    assert again is not None and again.allowed
    assert again.headers["X-RateLimit-Remaining"] == "4"
    assert again.headers["X-RateLimit-Reset-After"] == "5.000"


def test_sends_and_edits_are_separate_buckets() -> None:
    rules = limits(Clock())
    for n in range(5):
        verdict = rules.check(*EDIT, in_channel(7, n))
        assert verdict is not None and verdict.allowed
    send = rules.check(*SEND, {"channel_id": "7"})
    assert send is not None and send.allowed
    edit = rules.check(*EDIT, in_channel(7))
    assert send.headers["X-RateLimit-Bucket"] != (
        edit.headers["X-RateLimit-Bucket"] if edit else ""
    )


def test_the_global_limit_spares_the_interaction_callback_and_token_routes() -> None:
    clock = Clock()
    rules = limits(clock, global_per_s=3)
    answers = [rules.check(*SEND, {"channel_id": str(c)}) for c in range(4)]
    assert [a is not None and a.allowed for a in answers] == [True, True, True, False]
    assert answers[3] is not None and answers[3].is_global
    assert rules.check(*CALLBACK, {"interaction_id": "1", "token": "t"}) is None  # no bucket
    followup = rules.check(*FOLLOWUP, {"app_id": "1", "token": "t"})
    assert followup is not None and followup.allowed  # its own bucket, not the global one
    clock.now += 1.0
    after = rules.check(*SEND, {"channel_id": "9"})
    assert after is not None and after.allowed

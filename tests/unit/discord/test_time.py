"""Discord's clock from its Date headers, and when an interaction is too old to answer."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from bot.discord.time import ANSWER_DEADLINE_S, CLOCK_MARGIN_S, DiscordClock, is_too_old_to_answer


def date_header(epoch_s: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch_s, UTC), usegmt=True)


def test_an_interaction_is_too_old_only_past_the_deadline_and_the_clock_margin() -> None:
    created = 1_000_000.0
    assert not is_too_old_to_answer(created, created + 0.2)
    assert not is_too_old_to_answer(created, created + ANSWER_DEADLINE_S + CLOCK_MARGIN_S)
    assert is_too_old_to_answer(created, created + ANSWER_DEADLINE_S + CLOCK_MARGIN_S + 0.1)
    assert is_too_old_to_answer(created, created + 3600)


def test_the_clock_takes_discords_offset_from_the_date_headers() -> None:
    local = 2_000_000.25
    clock = DiscordClock(local=lambda: local)
    assert clock.now() == local  # nothing seen yet: the bot's own clock
    for _ in range(5):
        clock.learn(date_header(local - 7.0), received_at_s=local)  # the bot is 7 s fast
    clock.learn("not a date", received_at_s=local)  # ignored
    assert abs(clock.offset_s - (-6.5)) < 0.3  # whole seconds: half a second on average
    assert abs(clock.now() - (local - 6.5)) < 0.3
    # A fresh interaction does not look 7 s old on the fast clock.
    assert not is_too_old_to_answer(local - 7.0, clock.now())

"""Quota rules: which limit applies (member > role > server > config) and the windows (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.quota import ResolvedLimit, quota_check, resolve_limit, window_bounds
from bot.domain.records import GuildSettings, QuotaOverride

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
GUILD, ALICE, HELPERS, VIPS = 1, 10, 100, 200


def override(kind: str, target: int, limit: int | None, window: str | None = None) -> QuotaOverride:
    return QuotaOverride(GUILD, kind, target, limit, window, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("window", "start", "reset"),
    [
        ("day", datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)),
        ("week", datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)),
        ("month", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_windows_start_at_utc_midnight_monday_or_the_first(
    window: str, start: datetime, reset: datetime
) -> None:
    assert window_bounds(window, NOW) == (start, reset)  # type: ignore[arg-type]


def test_december_rolls_into_january() -> None:
    assert window_bounds("month", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))[1] == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def resolve(
    overrides: list[QuotaOverride], guild: GuildSettings | None = None, roles: tuple[int, ...] = ()
) -> ResolvedLimit:
    return resolve_limit(
        config_limit=5,
        config_window="day",
        guild=guild,
        overrides=overrides,
        user_id=ALICE,
        role_ids=roles,
    )


def test_the_config_default_applies_when_nothing_else_does() -> None:
    assert resolve([]) == ResolvedLimit(5, "day", "config")


def test_a_server_default_beats_the_config_and_may_be_unlimited() -> None:
    assert resolve([], GuildSettings(GUILD, default_limit=2, window="week")) == ResolvedLimit(
        2, "week", "server"
    )
    assert resolve([], GuildSettings(GUILD, default_limit="unlimited")) == ResolvedLimit(
        None, "day", "server"
    )


def test_the_most_generous_role_override_applies() -> None:
    overrides = [override("role", HELPERS, 3), override("role", VIPS, 10, "month")]
    assert resolve(overrides, roles=(HELPERS, VIPS)) == ResolvedLimit(10, "month", "role")
    assert resolve(overrides, roles=(HELPERS,)) == ResolvedLimit(3, "day", "role")
    unlimited = [override("role", HELPERS, 3), override("role", VIPS, None)]
    assert resolve(unlimited, roles=(HELPERS, VIPS)).limit is None


def test_a_member_override_beats_everything_even_a_block() -> None:
    overrides = [override("role", VIPS, None), override("member", ALICE, 0)]
    assert resolve(overrides, GuildSettings(GUILD, default_limit=50), (VIPS,)) == ResolvedLimit(
        0, "day", "member"
    )


def test_the_check_carries_the_window_and_the_caps() -> None:
    check = quota_check(
        ResolvedLimit(4, "week", "role"),
        NOW,
        max_in_flight_per_member=2,
        max_in_flight_per_server=10,
    )
    assert (check.limit, check.window_start, check.resets_at) == (
        4,
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert (check.max_in_flight_per_member, check.max_in_flight_per_server) == (2, 10)

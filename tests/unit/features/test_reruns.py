"""Rerun decisions that need no Discord: when a refused 🔁 is worth telling the member again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.features.reruns import NOTICE_WINDOW, notice_due

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_a_refusal_is_told_once_per_window() -> None:
    assert notice_due(None, NOW)
    assert not notice_due(NOW - timedelta(seconds=1), NOW)
    assert not notice_due(NOW - NOTICE_WINDOW + timedelta(seconds=1), NOW)
    assert notice_due(NOW - NOTICE_WINDOW, NOW)

"""What the tracker keeps of Omni callbacks: when to ask, what was claimed, when to doubt them."""

from __future__ import annotations

import logging

import pytest

from bot.domain.lifecycle import TaskState
from bot.engine.callback_hints import CallbackHints, Heard
from bot.omni.wire import TaskStatus
from tests.helpers.tasks import make_task

PROCESSING = make_task(state=TaskState.PROCESSING)


def hints(*, enabled: bool = True) -> CallbackHints:
    return CallbackHints(enabled=enabled, misses_to_fall_back=3, unconfirmed_retries=2)


def test_news_for_a_tracked_task_is_asked_about_now_and_its_claim_kept_for_that_query() -> None:
    kept = hints()
    heard = kept.heard(PROCESSING, TaskStatus.SUCCEEDED, visiting=False, tracked=True)
    assert heard is Heard.ASK_NOW
    assert kept.take(PROCESSING.id) == (True, TaskStatus.SUCCEEDED)
    assert kept.take(PROCESSING.id) == (False, None)  # one query per callback


def test_a_repeat_is_old_news_but_still_counts_as_a_callback() -> None:
    kept = hints()
    heard = kept.heard(PROCESSING, TaskStatus.RUNNING, visiting=False, tracked=True)
    assert heard is Heard.OLD_NEWS
    kept.task_ended(PROCESSING.id)
    assert kept.misses == 0


def test_a_callback_during_a_query_asks_once_more_after_it() -> None:
    kept = hints()
    heard = kept.heard(PROCESSING, TaskStatus.FAILED, visiting=True, tracked=False)
    assert heard is Heard.ASK_LATER
    assert kept.take_again(PROCESSING.id)
    assert not kept.take_again(PROCESSING.id)


def test_a_callback_before_the_task_is_tracked_waits_for_it() -> None:
    kept = hints()
    assert kept.heard(PROCESSING, None, visiting=False, tracked=False) is Heard.ASK_LATER
    assert kept.take(PROCESSING.id) == (False, None)  # not for a query yet
    assert kept.take_early(PROCESSING.id)
    assert kept.take(PROCESSING.id) == (True, None)
    assert not kept.take_early(PROCESSING.id)


def test_a_claimed_end_the_query_does_not_show_is_asked_about_again_a_few_times() -> None:
    kept = hints()
    assert not kept.end_unconfirmed(PROCESSING.id, TaskStatus.RUNNING)
    assert not kept.end_unconfirmed(PROCESSING.id, None)
    answers = [kept.end_unconfirmed(PROCESSING.id, TaskStatus.SUCCEEDED) for _ in range(3)]
    assert answers == [True, True, False]
    kept.forget(PROCESSING.id)
    assert kept.end_unconfirmed(PROCESSING.id, TaskStatus.SUCCEEDED)  # counted afresh


def test_ends_without_callbacks_make_polling_dense_again_until_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = hints()
    with caplog.at_level(logging.WARNING):
        for task_id in (1, 2):
            kept.task_ended(task_id)
            assert kept.in_use
        kept.task_ended(3)
    assert not kept.in_use
    assert kept.misses == 3
    assert "callbacks are not arriving: 3 tasks in a row" in caplog.text
    kept.heard(PROCESSING, TaskStatus.RUNNING, visiting=False, tracked=True)
    assert kept.in_use


def test_without_callbacks_configured_nothing_is_counted() -> None:
    kept = hints(enabled=False)
    kept.task_ended(1)
    assert (kept.misses, kept.in_use) == (0, False)

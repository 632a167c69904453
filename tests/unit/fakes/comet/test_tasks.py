"""The lazy task state machine and the account book, as pure code on a hand-driven clock."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from bot.fakes.comet import FakeCometConfig, FakeTask, TaskState
from bot.fakes.comet.book import TaskBook
from bot.fakes.comet.tasks import plan_outcome

BODY = {"model_name": "kling-video-o1", "prompt": "p", "aspect_ratio": "16:9", "duration": "5"}


def task(**changes: Any) -> FakeTask:
    fields: dict[str, Any] = {
        "task_id": "100000000000000001",
        "body": dict(BODY),
        "created_at": 1_000_000.0,
        "created_mono": 50.0,
        "submitted_s": 2.0,
        "processing_s": 10.0,
        "outcome": "succeed",
    }
    return FakeTask(**{**fields, **changes})


def test_state_is_a_function_of_time() -> None:
    t = task()
    assert [t.state_at(now) for now in (50.0, 51.9, 52.0, 61.9, 62.0, 1e9)] == [
        TaskState.SUBMITTED,
        TaskState.SUBMITTED,
        TaskState.PROCESSING,
        TaskState.PROCESSING,
        TaskState.SUCCEED,
        TaskState.SUCCEED,
    ]
    assert (t.processing_at_mono, t.terminal_at_mono) == (52.0, 62.0)
    assert (t.processing_at, t.terminal_at) == (1_000_002.0, 1_000_012.0)
    assert [t.updated_at_mono(now) for now in (51.0, 55.0, 70.0)] == [50.0, 52.0, 62.0]
    assert t.is_active_at(61.9)
    assert not t.is_active_at(62.0)


def test_failed_outcome_and_infinite_timings() -> None:
    assert task(outcome="failed").state_at(100.0) is TaskState.FAILED
    forever = task(processing_s=math.inf)
    assert forever.state_at(1e12) is TaskState.PROCESSING
    assert forever.terminal_at == math.inf


def test_finish_before_processing_skips_it() -> None:
    t = task(submitted_s=math.inf)
    t.finish(55.0, "failed", "risk control")
    assert (t.processing_at_mono, t.terminal_at_mono) == (55.0, 55.0)
    assert t.state_at(54.0) is TaskState.SUBMITTED
    assert t.state_at(55.0) is TaskState.FAILED
    assert t.failure_reason == "risk control"
    with pytest.raises(ValueError):
        t.finish(56.0, "succeed")


def test_set_timings_checks_its_values() -> None:
    t = task()
    t.set_timings(submitted_s=0.0, processing_s=None)
    assert t.state_at(50.0) is TaskState.PROCESSING
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError):
            t.set_timings(submitted_s=bad, processing_s=None)


@pytest.mark.parametrize(
    ("changes", "duration"),
    [
        ({}, "5.0"),
        ({"duration": "10"}, "10.0"),
        ({"duration": None}, "5.0"),
        ({"video_list": [{"video_url": "v", "refer_type": "base"}], "duration": "9"}, "5.0"),
        ({"video_list": [{"video_url": "v", "refer_type": "feature"}], "duration": "7"}, "7.0"),
    ],
)
def test_result_duration(changes: dict[str, Any], duration: str) -> None:
    body = {k: v for k, v in {**BODY, **changes}.items() if v is not None}
    assert task(body=body).result_duration == duration


def test_fail_keyword_is_read_in_every_prompt() -> None:
    rng = random.Random(0)
    shots = {**BODY, "prompt": "", "multi_prompt": [{"prompt": "x FAILME", "duration": "5"}]}
    assert plan_outcome(shots, fail_keyword="FAILME", failure_rate=0.0, rng=rng) == "failed"
    assert plan_outcome(BODY, fail_keyword="FAILME", failure_rate=0.0, rng=rng) == "succeed"
    assert plan_outcome(BODY, fail_keyword="", failure_rate=1.0, rng=rng) == "failed"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_thousands_of_tasks_cost_only_their_records() -> None:
    clock = Clock()
    config = FakeCometConfig(max_concurrent_tasks=10, submitted_s=1.0, processing_s=1.0)
    book = TaskBook(config, random.Random(1), clock)
    accepted = 0
    for _ in range(5000):
        status, _, created = book.create(dict(BODY))
        if status == 200:
            accepted += 1
            assert created is not None
        else:
            assert status == 429
            clock.now += 2.0  # every running task ends; the slots free up
    assert accepted == len(book.tasks) >= 4500
    assert len(book.active_task_ids()) <= 10


def test_book_finds_by_external_id_only_when_configured() -> None:
    config = FakeCometConfig()
    book = TaskBook(config, random.Random(1), Clock())
    _, _, created = book.create({**BODY, "external_task_id": "ext"})
    assert created is not None
    assert book.find("ext") is created
    assert book.find(created.task_id) is created
    config.lookup_by_external_id = False
    assert book.find("ext") is None

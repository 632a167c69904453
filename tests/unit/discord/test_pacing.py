"""Which status edit goes next, and when: the channel's announced budget, kinds, intervals."""

from __future__ import annotations

import pytest

from bot.discord.pacing import (
    DEFAULT_BUDGET,
    SAFETY_S,
    Announcement,
    Budget,
    EditKind,
    EditPacer,
    WantedEdit,
    choose_edit,
    read_headers,
)

CHANNEL = 7
K = EditKind


def choose(
    wanted: list[WantedEdit],
    pacer: EditPacer,
    now: float,
    *,
    last_edit_at: dict[int, float] | None = None,
    is_closing: bool = False,
) -> tuple[WantedEdit | None, float]:
    return choose_edit(
        wanted,
        channel_id=CHANNEL,
        pacer=pacer,
        last_edit_at=last_edit_at or {},
        min_interval_s=3.0,
        now=now,
        is_closing=is_closing,
    )


def test_final_states_then_state_changes_then_positions_front_first() -> None:
    wanted = [
        WantedEdit(1, K.POSITION, asked_at=0.0, position=9),
        WantedEdit(2, K.POSITION, asked_at=1.0, position=2),
        WantedEdit(3, K.STATE, asked_at=2.0),
        WantedEdit(4, K.FINAL, asked_at=3.0),
    ]
    pacer = EditPacer()
    order = []
    now = 10.0
    while wanted:
        choice, ready_at = choose(wanted, pacer, now)
        if choice is None:
            now = ready_at
            continue
        pacer.record(CHANNEL, choice.kind, now)
        order.append(choice.task_id)
        wanted.remove(choice)
    assert order == [4, 3, 2, 1]


def test_a_channel_never_gets_more_edits_in_a_window_than_its_budget() -> None:
    pacer = EditPacer()
    pacer.learn(CHANNEL, Announcement(limit=3, remaining=2, reset_after_s=2.0), now=0.0)
    assert pacer.budget(CHANNEL) == Budget(3, 2.0)
    made: list[float] = []
    now = 0.0
    wanted = [WantedEdit(n, K.STATE, asked_at=0.0) for n in range(10)]
    while wanted:
        choice, ready_at = choose(wanted, pacer, now)
        if choice is None:
            now = ready_at
            continue
        pacer.record(CHANNEL, choice.kind, now)
        made.append(now)
        wanted.remove(choice)
    for start in made:
        assert sum(1 for t in made if start <= t < start + 2.0) <= 3
    assert made[3] == pytest.approx(2.0 + SAFETY_S)  # the fourth waits for the window


def test_positions_use_half_the_budget_and_leave_room_for_a_state_change() -> None:
    pacer = EditPacer()  # Discord's 5 edits per 5 s
    positions = [WantedEdit(n, K.POSITION, asked_at=0.0, position=n) for n in range(1, 10)]
    made = []
    for _ in range(3):
        choice, _ = choose(positions, pacer, 0.0)
        if choice is not None:
            pacer.record(CHANNEL, choice.kind, 0.0)
            positions.remove(choice)
            made.append(choice.task_id)
    assert made == [1, 2]  # two of five: the third waits for the window
    state, _ = choose([WantedEdit(99, K.STATE, asked_at=0.0)], pacer, 0.0)
    assert state is not None  # a state change still goes at once


def test_positions_are_capped_across_all_channels() -> None:
    pacer = EditPacer()
    for channel in range(5):
        assert pacer.ready_at(channel, K.POSITION, 0.0) == 0.0
        pacer.record(channel, K.POSITION, 0.0)
    assert pacer.ready_at(99, K.POSITION, 0.0) == pytest.approx(1.0)  # a sixth channel waits
    assert pacer.ready_at(99, K.STATE, 0.0) == 0.0  # state changes are not capped so


def test_a_message_waits_its_interval_but_not_for_its_final_state() -> None:
    pacer = EditPacer()
    last = {1: 10.0}
    choice, ready_at = choose(
        [WantedEdit(1, K.STATE, asked_at=10.0)], pacer, 11.0, last_edit_at=last
    )
    assert choice is None and ready_at == 13.0
    choice, _ = choose([WantedEdit(1, K.FINAL, asked_at=10.0)], pacer, 11.0, last_edit_at=last)
    assert choice is not None
    choice, _ = choose(
        [WantedEdit(1, K.STATE, asked_at=10.0)], pacer, 11.0, last_edit_at=last, is_closing=True
    )
    assert choice is not None  # closing: pending state changes go now
    retry = WantedEdit(2, K.FINAL, asked_at=10.0, not_before=12.0)
    assert choose([retry], pacer, 11.0) == (None, 12.0)


def test_the_budget_is_read_from_the_headers_and_an_empty_bucket_is_waited_for() -> None:
    said = read_headers(
        {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "5.0"}
    )
    assert said == Announcement(5, 4, 5.0)
    assert read_headers({"X-RateLimit-Limit": "5"}) is None
    assert read_headers({}) is None
    pacer = EditPacer()
    assert pacer.budget(CHANNEL) == DEFAULT_BUDGET
    pacer.learn(CHANNEL, Announcement(2, 1, 4.0), now=0.0)
    # Later in the window Reset-After is what is left of it: the window stays 4 s.
    pacer.learn(CHANNEL, Announcement(2, 0, 1.5), now=2.5)
    assert pacer.budget(CHANNEL) == Budget(2, 4.0)
    assert pacer.ready_at(CHANNEL, K.FINAL, 2.5) == pytest.approx(4.0)  # the bucket is empty

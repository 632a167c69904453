"""The task state machine: every (from, to) pair of states against the declared transitions."""

from __future__ import annotations

import itertools

import pytest

from bot.domain.errors import IllegalTransition
from bot.domain.lifecycle import (
    AT_API_STATES,
    REFUNDED_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    TaskState,
    can_move,
    check_move,
)

S = TaskState
ALL_PAIRS = list(itertools.product(TaskState, TaskState))

# The life cycle written out by hand, independently of TRANSITIONS: a change to either one that
# is not made to the other fails here.
EXPECTED_MOVES = {
    (S.QUEUED, S.SUBMITTING),
    (S.QUEUED, S.REJECTED),
    (S.QUEUED, S.FAILED),
    (S.SUBMITTING, S.SUBMITTED),
    (S.SUBMITTING, S.QUEUED),
    (S.SUBMITTING, S.REJECTED),
    (S.SUBMITTING, S.FAILED),
    (S.SUBMITTING, S.AMBIGUOUS),
    (S.SUBMITTED, S.PROCESSING),
    (S.SUBMITTED, S.SUCCEEDED),
    (S.SUBMITTED, S.FAILED),
    (S.SUBMITTED, S.TIMED_OUT),
    (S.PROCESSING, S.SUCCEEDED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.TIMED_OUT),
    (S.AMBIGUOUS, S.SUBMITTED),
    (S.AMBIGUOUS, S.QUEUED),
    (S.AMBIGUOUS, S.FAILED),
    (S.SUCCEEDED, S.DELIVERING),
    (S.SUCCEEDED, S.UNDELIVERABLE),
    (S.DELIVERING, S.DELIVERING),
    (S.DELIVERING, S.DELIVERED),
    (S.DELIVERING, S.UNDELIVERABLE),
    # Cancelled: from the queue at once; from the API when it is done (instead of succeeded or
    # queued again); a made video not yet posted at once.
    (S.QUEUED, S.CANCELLED),
    (S.SUBMITTING, S.CANCELLED),
    (S.SUBMITTED, S.CANCELLED),
    (S.PROCESSING, S.CANCELLED),
    (S.AMBIGUOUS, S.CANCELLED),
    (S.SUCCEEDED, S.CANCELLED),
}


def _name(pair: tuple[TaskState, TaskState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=[_name(p) for p in ALL_PAIRS])
def test_every_pair_is_legal_exactly_when_declared(pair: tuple[TaskState, TaskState]) -> None:
    current, target = pair
    is_legal = pair in EXPECTED_MOVES
    assert can_move(current, target) is is_legal
    assert (target in TRANSITIONS[current]) is is_legal
    if is_legal:
        check_move(current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
            check_move(current, target)


def test_every_state_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(TaskState)


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES), ids=str)
def test_terminal_states_have_no_exits(state: TaskState) -> None:
    assert TRANSITIONS[state] == frozenset()
    assert state.is_terminal


@pytest.mark.parametrize("state", sorted(set(TaskState) - TERMINAL_STATES), ids=str)
def test_unfinished_states_can_still_end(state: TaskState) -> None:
    """From every unfinished state some path reaches a terminal state: no task is stuck forever."""
    seen, frontier = {state}, [state]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen & TERMINAL_STATES
    assert not state.is_terminal


def test_refunded_states_are_terminal() -> None:
    assert REFUNDED_STATES <= TERMINAL_STATES
    assert {s for s in TaskState if s.is_refunded} == REFUNDED_STATES


def test_at_api_states() -> None:
    assert {s for s in TaskState if s.is_at_api} == AT_API_STATES
    assert not AT_API_STATES & TERMINAL_STATES
    assert S.QUEUED not in AT_API_STATES

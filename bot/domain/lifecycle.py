"""The task life cycle as an explicit state machine: which states exist and which moves are legal.

    queued → submitting → submitted → processing → succeeded → delivering → delivered
                 │  ↑          │            │           │           │
                 │  └ queued   └────────────┴→ failed   └→ undeliverable ←┘
                 ├→ rejected (the API refused the request: nothing was created)
                 └→ ambiguous (sent, answer unknown) → submitted | queued | failed

    cancelled: from queued at once; from a task at the API (whose cancellation was asked for)
    when the API has finished it, instead of succeeded or queued again: it is never delivered.

Every transition is written to the store before the side effect it stands for, so a restart reads
the state and knows what may have happened: `submitting` means a create may have been sent,
`delivering` means a post may have been made.
"""

from __future__ import annotations

import enum

from bot.domain.errors import IllegalTransition


class TaskState(enum.StrEnum):
    """Where a task is in its life; the values are what the database stores."""

    QUEUED = "queued"  # accepted, waiting for an API slot
    SUBMITTING = "submitting"  # a create is about to be / may have been sent
    SUBMITTED = "submitted"  # the API has the task (we hold its task id)
    PROCESSING = "processing"  # the API says it is running
    SUCCEEDED = "succeeded"  # the API has a result; not yet posted
    DELIVERING = "delivering"  # the result is being downloaded and posted
    DELIVERED = "delivered"  # posted to the channel: done
    FAILED = "failed"  # the API (or the bot) gave up on it: refunded
    REJECTED = "rejected"  # refused before anything was created: refunded
    TIMED_OUT = "timed_out"  # ran past omni.task_timeout_minutes: refunded
    AMBIGUOUS = "ambiguous"  # a create was sent but its outcome is unknown
    UNDELIVERABLE = "undeliverable"  # succeeded, but the result could not be posted
    CANCELLED = "cancelled"  # cancelled by the requester or a moderator: never delivered

    @property
    def is_terminal(self) -> bool:
        """True when nothing more will ever happen to the task."""
        return self in TERMINAL_STATES

    @property
    def is_at_api(self) -> bool:
        """True while the task may hold one of the account's concurrency slots."""
        return self in AT_API_STATES

    @property
    def is_refunded(self) -> bool:
        """True for the endings in which the member's credit is given back."""
        return self in REFUNDED_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.DELIVERED,
        TaskState.FAILED,
        TaskState.REJECTED,
        TaskState.TIMED_OUT,
        TaskState.UNDELIVERABLE,
        TaskState.CANCELLED,
    }
)
# Every ending in which the member got no video gives the credit back, UNDELIVERABLE included:
# the member never saw a result, so the operator (not the member) carries that cost.
# CANCELLED is refunded or not by its own rule (`bot.domain.cancellation.refunds_cancellation`).
REFUNDED_STATES = frozenset(
    {TaskState.FAILED, TaskState.REJECTED, TaskState.TIMED_OUT, TaskState.UNDELIVERABLE}
)
AT_API_STATES = frozenset(
    {TaskState.SUBMITTING, TaskState.SUBMITTED, TaskState.PROCESSING, TaskState.AMBIGUOUS}
)

_S = TaskState
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    _S.QUEUED: frozenset({_S.SUBMITTING, _S.REJECTED, _S.FAILED, _S.CANCELLED}),
    # Back to QUEUED only when the API said for sure that nothing was created (429, 5xx), or
    # when a resend is refused as a duplicate if it was (504/524: same external_task_id).
    # CANCELLED from a state at the API: the move the API's end would have made (succeeded, or
    # queued again because nothing was created), for a task whose cancellation was asked for.
    _S.SUBMITTING: frozenset(
        {_S.SUBMITTED, _S.QUEUED, _S.REJECTED, _S.FAILED, _S.AMBIGUOUS, _S.CANCELLED}
    ),
    _S.SUBMITTED: frozenset({_S.PROCESSING, _S.SUCCEEDED, _S.FAILED, _S.TIMED_OUT, _S.CANCELLED}),
    _S.PROCESSING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.TIMED_OUT, _S.CANCELLED}),
    # Reconciled: found at the API, proven absent (safe to send again), or given up with a refund.
    _S.AMBIGUOUS: frozenset({_S.SUBMITTED, _S.QUEUED, _S.FAILED, _S.CANCELLED}),
    _S.SUCCEEDED: frozenset({_S.DELIVERING, _S.UNDELIVERABLE, _S.CANCELLED}),
    # DELIVERING → DELIVERING is a retry of the post after a restart or a passing error.
    _S.DELIVERING: frozenset({_S.DELIVERING, _S.DELIVERED, _S.UNDELIVERABLE}),
    _S.DELIVERED: frozenset(),
    _S.FAILED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.TIMED_OUT: frozenset(),
    _S.UNDELIVERABLE: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_move(current: TaskState, target: TaskState) -> bool:
    """True when `current → target` is a legal move of the life cycle."""
    return target in TRANSITIONS[current]


def check_move(current: TaskState, target: TaskState) -> None:
    """Raise `IllegalTransition` unless `current → target` is legal."""
    if not can_move(current, target):
        raise IllegalTransition(f"a task can't go from {current.value} to {target.value}")

"""Cancelling a task (pure): what a cancellation does in each state, and whether it refunds.

The Omni API has no cancel route. A task still in the queue never reaches it: it ends at once,
refunded. A task already at the API goes on there and keeps its concurrency slot; the bot writes
that it was cancelled, and when the API finishes it ends `cancelled` instead of being delivered
(or sent again). The server was billed for a video the API made, so it is refunded only when
`quotas.refund_cancelled_running` says so; a task the API never made (it failed, or a create
that never landed) is refunded like any other.
"""

from __future__ import annotations

import enum

from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.records import TaskRecord


class CancelStep(enum.Enum):
    """What `/cancel` does to a task in a given state."""

    END_NOW = "end_now"  # queued, or made and not yet posted: cancelled at once
    MARK = "mark"  # at the API: written down; it ends cancelled when the API finishes it
    TOO_LATE = "too_late"  # being posted right now
    ENDED = "ended"  # nothing left to cancel


def cancel_step(state: TaskState) -> CancelStep:
    """The step a cancellation takes for a task in `state`."""
    if state in (TaskState.QUEUED, TaskState.SUCCEEDED):
        return CancelStep.END_NOW
    if state in AT_API_STATES:
        return CancelStep.MARK
    if state is TaskState.DELIVERING:
        return CancelStep.TOO_LATE
    return CancelStep.ENDED


def refunds_cancellation(from_state: TaskState, *, refund_running: bool) -> bool:
    """Whether a task that ends cancelled from `from_state` gives its credits back.

    From the queue, or from a create that never made anything (sent back to the queue, or
    proven absent), nothing was billed: refunded. A video the API made is refunded only when
    the operator chose so (`refund_running`).
    """
    if from_state in (TaskState.QUEUED, TaskState.SUBMITTING, TaskState.AMBIGUOUS):
        return True
    return refund_running


def cancellation_refunded(*, was_created: bool, refund_running: bool | None) -> bool:
    """Whether a cancelled task's credits are (or will be) given back: always when the API
    never made it, else as the operator chose when the cancellation was asked for."""
    return not was_created or bool(refund_running)


def can_still_cancel(task: TaskRecord) -> bool:
    """Whether a Cancel button still has something to cancel (its status message keeps it)."""
    steps = (CancelStep.END_NOW, CancelStep.MARK)
    return cancel_step(task.state) in steps and not task.is_cancel_requested

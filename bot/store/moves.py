"""One move of a task, inside a write transaction: the row, its event, its refund, its links.

Shared by the parts of the store that move tasks (`tasks.py`) or record their messages
(`task_messages.py`); every caller holds the write lock (SQLite) or the task's row (PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.cancellation import refunds_cancellation
from bot.domain.errors import IllegalTransition
from bot.domain.lifecycle import TaskState, check_move
from bot.domain.records import LinkKind, TaskRecord, TaskUpdate
from bot.store.quotas import refund
from bot.store.sql import Session, to_db_time
from bot.store.task_reads import load_task

INSERT_EVENT = (
    "INSERT INTO task_events (task_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)"
)
# A task that has ended and has a status message: its final state is still to be shown there.
FINAL_STATUS_PENDING = (
    "INSERT INTO final_status_pending (task_id) SELECT id FROM tasks "
    "WHERE id = ? AND finished_at IS NOT NULL AND status_message_id IS NOT NULL "
    "ON CONFLICT DO NOTHING"
)
# Returns the row when the message is (now) linked to this task; nothing when another task has it.
_LINK_MESSAGE = (
    "INSERT INTO message_links (message_id, task_id, kind) VALUES (?, ?, ?) "
    "ON CONFLICT (message_id) DO UPDATE SET kind = excluded.kind "
    "WHERE message_links.task_id = excluded.task_id RETURNING task_id"
)
# Setting one of these message ids also links the message to the task (for reaction reruns).
_LINKED_COLUMNS: tuple[tuple[str, LinkKind], ...] = (
    ("status_message_id", "status"),
    ("delivery_message_id", "result"),
)


async def apply_move(
    session: Session,
    current: TaskRecord,
    to: TaskState,
    at: str,
    detail: str,
    fields: TaskUpdate | dict[str, Any],
    *,
    is_attempt: bool = False,
) -> TaskRecord:
    """The move itself, inside the caller's write transaction."""
    task_id = current.id
    check_move(current.state, to)
    if current.is_held and to is TaskState.SUBMITTING:
        raise IllegalTransition(f"task {task_id} is held: its member has not been answered yet")
    values: dict[str, Any] = {
        k: to_db_time(v) if isinstance(v, datetime) else v for k, v in fields.items()
    }
    if is_attempt:
        values["attempts"] = current.attempts + 1
    values.update(state=to.value, updated_at=at)
    if to is not TaskState.QUEUED:
        values["held"] = 0  # only a queued task is held (withdrawn: the hold is moot)
    if to is TaskState.SUBMITTED:
        values["submitted_at"] = at
    if to.is_terminal:
        values["finished_at"] = at
    assignments = ", ".join(f"{column} = ?" for column in values)
    await session.run(f"UPDATE tasks SET {assignments} WHERE id = ?", [*values.values(), task_id])
    if to is TaskState.QUEUED or (current.state.is_at_api and not to.is_at_api):
        await session.notify_queue()  # a task is back in line, or an API slot is free
    await session.run(INSERT_EVENT, (task_id, at, current.state.value, to.value, detail))
    refund_running = bool(values.get("cancel_refund", current.cancel_refund))
    if to.is_refunded or (
        to is TaskState.CANCELLED
        and refunds_cancellation(current.state, refund_running=refund_running)
    ):
        await refund(session, task_id, at)
    if to.is_terminal:
        await session.run(FINAL_STATUS_PENDING, (task_id,))
        await session.run("DELETE FROM interaction_tokens WHERE task_id = ?", (task_id,))
    for column, kind in _LINKED_COLUMNS:
        if values.get(column) is not None:
            await link_to_task(session, values[column], task_id, kind)
    return await load_task(session, task_id)


async def link_to_task(session: Session, message_id: int, task_id: int, kind: LinkKind) -> None:
    if await session.all(_LINK_MESSAGE, (message_id, task_id, kind)):
        return
    row = await session.one("SELECT task_id FROM message_links WHERE message_id = ?", (message_id,))
    owner = "another task" if row is None else f"task {row['task_id']}"
    raise ValueError(f"message {message_id} already belongs to {owner}")

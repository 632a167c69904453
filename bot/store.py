"""The task store's SQLite implementation (the interface is `TaskStore`, in `store_api.py`).

Only the store modules hold SQL (this one for tasks, `quota_store.py` for the ledger and quota
settings, `database.py` for the connection). Every write is one transaction, and the invariants
that make paid work safe across kill -9 live here: a task is stored together with its first event
and its charge, and a move to a refunded state writes its refund in the same transaction, so a
task is charged once, refunded at most once, and never loses either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Unpack

from bot.database import from_db_time, from_db_time_or_none, to_db_time
from bot.errors import IllegalTransition, TaskNotFound
from bot.lifecycle import TaskState, check_move
from bot.models import OmniRequest, load_stored_request
from bot.quota_store import SqliteQuota
from bot.records import (
    LinkKind,
    NewTask,
    QueueEntry,
    QuotaCheck,
    StateFilter,
    TaskEvent,
    TaskRecord,
    TaskUpdate,
)
from bot.store_api import TaskStore as TaskStore  # re-exported: callers import it from here

_TASK_COLUMNS = (
    "id, external_id, origin, rerun_of, guild_id, channel_id, user_id, request_json, cost, "
    "state, api_task_id, created_at, updated_at, queued_at, submitted_at, finished_at, attempts, "
    "not_before, last_polled_at, poll_count, progress_pct, failure_reason, result_url, "
    "result_path, result_size_bytes, status_message_id, delivery_message_id"
)
_SELECT_TASK = f"SELECT {_TASK_COLUMNS} FROM tasks"
_INSERT_TASK = (
    "INSERT INTO tasks (external_id, origin, rerun_of, guild_id, channel_id, user_id, "
    "request_json, cost, state, created_at, updated_at, queued_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO task_events (task_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)"
)
_LINK_MESSAGE = (
    "INSERT INTO message_links (message_id, task_id, kind) VALUES (?, ?, ?) "
    "ON CONFLICT (message_id) DO UPDATE SET kind = excluded.kind "
    "WHERE message_links.task_id = excluded.task_id"
)
# The columns a transition may set; names reach SQL only after a check against this set.
_UPDATABLE = frozenset(TaskUpdate.__annotations__)
# Setting one of these message ids also links the message to the task (for reaction reruns).
_LINKED_COLUMNS: tuple[tuple[str, LinkKind], ...] = (
    ("status_message_id", "status"),
    ("delivery_message_id", "result"),
)


class SqliteStore(SqliteQuota):
    """`TaskStore` on one SQLite file; open with `await SqliteStore.open(path)`."""

    async def create_task(
        self, new: NewTask, *, now: datetime, quota: QuotaCheck | None = None
    ) -> TaskRecord:
        """Store a QUEUED task and its first event; with `quota`, check and charge in the same
        BEGIN IMMEDIATE, so concurrent creates never overspend. Raises QuotaExceeded.

        Idempotent on `new.external_id`: a retried create returns the task already stored.
        """
        at = to_db_time(now)
        if quota is not None and (new.guild_id is None or new.user_id is None):
            raise ValueError("a quota applies to a server member: guild_id and user_id are needed")
        async with self._write():
            row = await self._one(f"{_SELECT_TASK} WHERE external_id = ?", (new.external_id,))
            if row is not None:
                return _same_task(_task_from_row(row), new)
            if quota is not None:
                await self._check_quota(new, quota)
            cursor = await self._db.execute(
                _INSERT_TASK,
                (
                    new.external_id,
                    new.origin,
                    new.rerun_of,
                    new.guild_id,
                    new.channel_id,
                    new.user_id,
                    new.request.model_dump_json(),
                    new.cost,
                    TaskState.QUEUED.value,
                    at,
                    at,
                    at,
                ),
            )
            task_id = cursor.lastrowid
            assert task_id is not None  # an INSERT into a rowid table always sets it
            detail = f"rerun of task {new.rerun_of}" if new.rerun_of else f"created ({new.origin})"
            await self._db.execute(
                _INSERT_EVENT, (task_id, at, None, TaskState.QUEUED.value, detail)
            )
            if quota is not None:
                await self._charge(new, task_id, at)
            return await self._task(task_id)

    async def transition(
        self,
        task_id: int,
        to: TaskState,
        *,
        now: datetime,
        expect: StateFilter | None = None,
        detail: str = "",
        **fields: Unpack[TaskUpdate],
    ) -> TaskRecord:
        """Compare-and-set: move the task to `to`, setting `fields`, in one transaction.

        Raises IllegalTransition when the lifecycle forbids the move or the task is not in
        `expect` (someone else moved it). Also writes the event, submitted_at/finished_at, the
        refund when `to` is refunded, and message links for status/delivery message ids.
        """
        return await self._move(task_id, to, now=now, expect=expect, detail=detail, fields=fields)

    async def requeue(
        self, task_id: int, *, not_before: datetime | None, now: datetime, detail: str = ""
    ) -> TaskRecord:
        """SUBMITTING or AMBIGUOUS → QUEUED (the create surely did not happen), attempts + 1.

        The task keeps its place in the queue (queued_at is unchanged) but waits for `not_before`.
        """
        return await self._move(
            task_id,
            TaskState.QUEUED,
            now=now,
            expect=(TaskState.SUBMITTING, TaskState.AMBIGUOUS),
            detail=detail,
            fields={"not_before": not_before},
            is_attempt=True,
        )

    async def replace_request(
        self, task_id: int, request: OmniRequest, *, now: datetime, detail: str
    ) -> TaskRecord:
        """Swap a still-queued task's request (e.g. for one that points at the kept inputs).

        Only while QUEUED: what was sent to the API must stay what the store says was asked.
        """
        at = to_db_time(now)
        async with self._write():
            cursor = await self._db.execute(
                "UPDATE tasks SET request_json = ?, updated_at = ? WHERE id = ? AND state = ?",
                (request.model_dump_json(), at, task_id, TaskState.QUEUED.value),
            )
            if cursor.rowcount == 0:
                raise IllegalTransition(f"task {task_id} is not queued: its request is final")
            await self._db.execute(
                _INSERT_EVENT,
                (task_id, at, TaskState.QUEUED.value, TaskState.QUEUED.value, detail),
            )
        return await self.get_task(task_id)

    async def record_poll(
        self, task_id: int, *, now: datetime, progress_pct: int | None = None
    ) -> None:
        """Note a poll of the API: last_polled_at, poll_count + 1, progress when known. No event."""
        at = to_db_time(now)
        async with self._lock:
            cursor = await self._db.execute(
                "UPDATE tasks SET last_polled_at = ?, updated_at = ?, poll_count = poll_count + 1,"
                " progress_pct = COALESCE(?, progress_pct) WHERE id = ?",
                (at, at, progress_pct, task_id),
            )
        if cursor.rowcount == 0:
            raise TaskNotFound(_no_task(task_id))

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        """Remember the task's status message, and link that message to the task."""
        async with self._write():
            await self._task(task_id)
            await self._db.execute(
                "UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id)
            )
            await self._link(message_id, task_id, "status")

    async def link_message(self, message_id: int, task_id: int, kind: LinkKind) -> None:
        """Remember that a bot message shows the task; idempotent, ValueError if another task's."""
        async with self._write():
            await self._task(task_id)
            await self._link(message_id, task_id, kind)

    async def task_for_message(
        self, message_id: int, *, kind: LinkKind | None = None
    ) -> TaskRecord | None:
        """The task a message was linked to (optionally only by a link of `kind`), or None."""
        link = "SELECT task_id FROM message_links WHERE message_id = ?"
        params: list[Any] = [message_id]
        if kind is not None:
            link += " AND kind = ?"
            params.append(kind)
        async with self._lock:
            row = await self._one(f"{_SELECT_TASK} WHERE id = ({link})", params)
        return None if row is None else _task_from_row(row)

    async def get_task(self, task_id: int) -> TaskRecord:
        """One task by its number; raises TaskNotFound."""
        async with self._lock:
            return await self._task(task_id)

    async def list_tasks(
        self,
        *,
        state: StateFilter | None = None,
        guild_id: int | None = None,
        user_id: int | None = None,
        limit: int = 20,
        before_id: int | None = None,
    ) -> list[TaskRecord]:
        """Tasks matching every filter given, newest first; `before_id` pages further back."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            states = _states(state)
            where.append(f"state IN ({_marks(states)})")
            params.extend(s.value for s in states)
        for clause, value in (
            ("guild_id = ?", guild_id),
            ("user_id = ?", user_id),
            ("id < ?", before_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = _SELECT_TASK + (" WHERE " + " AND ".join(where) if where else "")
        async with self._lock:
            rows = await self._all(f"{sql} ORDER BY id DESC LIMIT ?", [*params, limit])
        return [_task_from_row(r) for r in rows]

    async def tasks_in_states(self, states: Iterable[TaskState]) -> list[TaskRecord]:
        """Every task in one of `states`, oldest first: what resume and the tracker load."""
        where, params = _state_clause(states)
        async with self._lock:
            rows = await self._all(f"{_SELECT_TASK} WHERE {where} ORDER BY id", params)
        return [_task_from_row(r) for r in rows]

    async def queue_entries(self) -> list[QueueEntry]:
        """Every QUEUED task as the fair queue sees it (no request JSON: cheap for thousands)."""
        async with self._lock:
            rows = await self._all(
                "SELECT id, guild_id, user_id, queued_at, not_before, external_id FROM tasks "
                "WHERE state = ? ORDER BY id",
                (TaskState.QUEUED.value,),
            )
        return [
            QueueEntry(
                task_id=r["id"],
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                queued_at=from_db_time(r["queued_at"]),
                not_before=from_db_time_or_none(r["not_before"]),
                external_id=r["external_id"],
            )
            for r in rows
        ]

    async def queued_tasks(self, now: datetime) -> list[TaskRecord]:
        """QUEUED tasks not backing off at `now`, oldest first; the fair queue picks among them."""
        sql = (
            f"{_SELECT_TASK} WHERE finished_at IS NULL AND state = ? "
            "AND (not_before IS NULL OR not_before <= ?) ORDER BY id"
        )
        async with self._lock:
            rows = await self._all(sql, (TaskState.QUEUED.value, to_db_time(now)))
        return [_task_from_row(r) for r in rows]

    async def count_in_states(self, states: Iterable[TaskState]) -> int:
        """How many tasks are in one of `states`."""
        where, params = _state_clause(states)
        async with self._lock:
            return await self._count(f"SELECT COUNT(*) FROM tasks WHERE {where}", params)

    async def task_events(self, task_id: int) -> list[TaskEvent]:
        """A task's history, oldest first; raises TaskNotFound."""
        async with self._lock:
            rows = await self._all(
                "SELECT id, task_id, at, from_state, to_state, detail FROM task_events "
                "WHERE task_id = ? ORDER BY id",
                (task_id,),
            )
        if not rows:
            raise TaskNotFound(_no_task(task_id))  # every stored task has its creation event
        return [
            TaskEvent(
                id=r["id"],
                task_id=r["task_id"],
                at=from_db_time(r["at"]),
                from_state=None if r["from_state"] is None else TaskState(r["from_state"]),
                to_state=TaskState(r["to_state"]),
                detail=r["detail"],
            )
            for r in rows
        ]

    async def _move(
        self,
        task_id: int,
        to: TaskState,
        *,
        now: datetime,
        expect: StateFilter | None,
        detail: str,
        fields: TaskUpdate,
        is_attempt: bool = False,
    ) -> TaskRecord:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"a transition can't set {', '.join(sorted(unknown))}")
        at = to_db_time(now)
        async with self._write():
            # BEGIN IMMEDIATE holds the write lock from this read to the commit: compare-and-set.
            current = await self._task(task_id)
            if expect is not None and current.state not in _states(expect):
                wanted = " or ".join(s.value for s in _states(expect))
                raise IllegalTransition(
                    f"task {task_id} is {current.state.value}, not {wanted}: "
                    f"it can't go to {to.value} from here"
                )
            check_move(current.state, to)
            values: dict[str, Any] = {
                k: to_db_time(v) if isinstance(v, datetime) else v for k, v in fields.items()
            }
            if is_attempt:
                values["attempts"] = current.attempts + 1
            values.update(state=to.value, updated_at=at)
            if to is TaskState.SUBMITTED:
                values["submitted_at"] = at
            if to.is_terminal:
                values["finished_at"] = at
            assignments = ", ".join(f"{column} = ?" for column in values)
            await self._db.execute(
                f"UPDATE tasks SET {assignments} WHERE id = ?", [*values.values(), task_id]
            )
            await self._db.execute(
                _INSERT_EVENT, (task_id, at, current.state.value, to.value, detail)
            )
            if to.is_refunded:
                await self._refund(task_id, at)
            for column, kind in _LINKED_COLUMNS:
                if values.get(column) is not None:
                    await self._link(values[column], task_id, kind)
            return await self._task(task_id)

    async def _link(self, message_id: int, task_id: int, kind: LinkKind) -> None:
        await self._db.execute(_LINK_MESSAGE, (message_id, task_id, kind))
        row = await self._one(
            "SELECT task_id FROM message_links WHERE message_id = ?", (message_id,)
        )
        if row is not None and row["task_id"] != task_id:
            raise ValueError(f"message {message_id} already belongs to task {row['task_id']}")

    async def _task(self, task_id: int) -> TaskRecord:
        row = await self._one(f"{_SELECT_TASK} WHERE id = ?", (task_id,))
        if row is None:
            raise TaskNotFound(_no_task(task_id))
        return _task_from_row(row)


def _states(states: StateFilter) -> tuple[TaskState, ...]:
    if isinstance(states, TaskState):  # a StrEnum is itself a collection (of characters)
        return (states,)
    return tuple(TaskState(s) for s in states)


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


def _state_clause(states: Iterable[TaskState]) -> tuple[str, list[str]]:
    """`state IN (…)`, narrowed to the partial index when every state is an unfinished one."""
    wanted = tuple(TaskState(s) for s in states)
    if not wanted:
        return "0", []
    clause = f"state IN ({_marks(wanted)})"
    if not any(s.is_terminal for s in wanted):
        clause = f"finished_at IS NULL AND {clause}"
    return clause, [s.value for s in wanted]


_TIME_COLUMNS = ("created_at", "updated_at", "queued_at")
_OPTIONAL_TIME_COLUMNS = ("submitted_at", "finished_at", "not_before", "last_polled_at")


def _task_from_row(row: sqlite3.Row) -> TaskRecord:
    values: dict[str, Any] = dict(zip(row.keys(), row, strict=True))
    values["request"] = load_stored_request(values.pop("request_json"))
    values["state"] = TaskState(values["state"])
    for key in _TIME_COLUMNS:
        values[key] = from_db_time(values[key])
    for key in _OPTIONAL_TIME_COLUMNS:
        values[key] = from_db_time_or_none(values[key])
    return TaskRecord(**values)


def _same_task(stored: TaskRecord, new: NewTask) -> TaskRecord:
    """The stored task for a retried create; a different task under the same id is a bug."""
    asked = (new.guild_id, new.user_id, new.request)
    if (stored.guild_id, stored.user_id, stored.request) != asked:
        raise ValueError(f"external id {new.external_id} already names task {stored.id}")
    return stored


def _no_task(task_id: int) -> str:
    return f"There is no task {task_id}."

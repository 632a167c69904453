"""Reading tasks back: the queries the engine, the commands and resume use, and the row mapping.

A part of `SqlStore` (`tasks.py` holds the writes and their invariants). Returns records, never
rows; the partial indexes on unfinished tasks keep resume and the queue cheap with 100,000 rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.domain.errors import TaskNotFound
from bot.domain.lifecycle import TaskState
from bot.domain.records import LinkKind, QueueEntry, StateFilter, TaskEvent, TaskRecord
from bot.domain.request import load_stored_request
from bot.store.sql import (
    Backend,
    Row,
    Session,
    count,
    from_db_time,
    from_db_time_or_none,
    placeholders,
)

TASK_COLUMNS = (
    "id, external_id, origin, rerun_of, guild_id, channel_id, user_id, request_json, cost, "
    "state, api_task_id, created_at, updated_at, queued_at, submitted_at, finished_at, attempts, "
    "not_before, last_polled_at, poll_count, progress_pct, failure_reason, result_url, "
    "result_path, result_size_bytes, status_message_id, delivery_message_id, parent_id, "
    "parent_kind, result_deleted_by, result_deleted_at, cancel_requested_at, cancelled_by, "
    "cancel_refund, credits_left, quota_window, user_name, held"
)
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks"
RECENT_TASKS = 5000  # how far back render times are looked for


class TaskReads:
    """The task queries (a part of `SqlStore`)."""

    _sql: Backend

    async def task_for_message(
        self, message_id: int, *, kind: LinkKind | None = None
    ) -> TaskRecord | None:
        """The task a message was linked to (optionally only by a link of `kind`), or None."""
        link = "SELECT task_id FROM message_links WHERE message_id = ?"
        params: list[Any] = [message_id]
        if kind is not None:
            link += " AND kind = ?"
            params.append(kind)
        async with self._sql.read() as session:
            row = await session.one(f"{SELECT_TASK} WHERE id = ({link})", params)
        return None if row is None else task_from_row(row)

    async def get_task(self, task_id: int) -> TaskRecord:
        """One task by its number; raises TaskNotFound."""
        async with self._sql.read() as session:
            return await load_task(session, task_id)

    async def list_tasks(
        self,
        *,
        state: StateFilter | None = None,
        guild_id: int | None = None,
        user_id: int | None = None,
        limit: int = 20,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[TaskRecord]:
        """Tasks matching every filter given, newest first; `before_id` pages further back,
        `after_id` gives the `limit` tasks just after it (still newest first)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            states = states_of(state)
            where.append(f"state IN ({placeholders(states)})")
            params.extend(s.value for s in states)
        for clause, value in (
            ("guild_id = ?", guild_id),
            ("user_id = ?", user_id),
            ("id < ?", before_id),
            ("id > ?", after_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = SELECT_TASK + (" WHERE " + " AND ".join(where) if where else "")
        order = "DESC" if after_id is None else "ASC"  # the ones just after it, then reversed
        async with self._sql.read() as session:
            rows = await session.all(f"{sql} ORDER BY id {order} LIMIT ?", [*params, limit])
        tasks = [task_from_row(r) for r in rows]
        return tasks if after_id is None else tasks[::-1]

    async def children_of(self, task_id: int, *, limit: int = 25) -> list[TaskRecord]:
        """The tasks made from this one (its reruns, edits and variations), oldest first."""
        async with self._sql.read() as session:
            rows = await session.all(
                f"{SELECT_TASK} WHERE id IN (SELECT id FROM tasks WHERE rerun_of = ? "
                "UNION SELECT id FROM tasks WHERE parent_id = ?) ORDER BY id LIMIT ?",
                (task_id, task_id, limit),
            )
        return [task_from_row(r) for r in rows]

    async def render_times(
        self, model: str, mode: str, duration_s: int | None, *, limit: int = 20
    ) -> list[float]:
        """Seconds from the create to the finished video of the latest tasks with this model,
        mode and length (looked for among the last few thousand tasks), newest first."""
        dialect = self._sql.dialect

        def json(key: str, *, integer: bool = False) -> str:
            return dialect.json_field("t.request_json", key, integer=integer)

        async with self._sql.read() as session:
            rows = await session.all(
                "SELECT t.submitted_at AS started, e.at AS done FROM tasks AS t "
                "JOIN task_events AS e ON e.task_id = t.id AND e.to_state = 'succeeded' "
                "WHERE t.id > (SELECT COALESCE(MAX(id), 0) - ? FROM tasks) "
                "AND t.submitted_at IS NOT NULL "
                f"AND {json('model')} = ? AND {json('mode')} = ? "
                f"AND {json('duration_s', integer=True)} {dialect.same} ? "
                "ORDER BY t.id DESC LIMIT ?",
                (RECENT_TASKS, model, mode, duration_s, limit),
            )
        return [
            (from_db_time(r["done"]) - from_db_time(r["started"])).total_seconds() for r in rows
        ]

    async def tasks_in_states(self, states: Iterable[TaskState]) -> list[TaskRecord]:
        """Every task in one of `states`, oldest first: what resume and the tracker load."""
        where, params = state_clause(states)
        async with self._sql.read() as session:
            rows = await session.all(f"{SELECT_TASK} WHERE {where} ORDER BY id", params)
        return [task_from_row(r) for r in rows]

    async def queue_entries(self) -> list[QueueEntry]:
        """Every QUEUED task that is not held, as the fair queue sees it (no request JSON: cheap
        for thousands). A held task's member has not been answered yet: it may not go."""
        async with self._sql.read() as session:
            rows = await session.all(
                "SELECT id, guild_id, user_id, queued_at, not_before, external_id FROM tasks "
                "WHERE state = ? AND held = 0 ORDER BY id",
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

    async def count_in_states(self, states: Iterable[TaskState]) -> int:
        """How many tasks are in one of `states`."""
        where, params = state_clause(states)
        async with self._sql.read() as session:
            return await count(session, f"SELECT COUNT(*) FROM tasks WHERE {where}", params)

    async def task_by_external_id(self, external_id: str) -> TaskRecord | None:
        """The task sent to the API under this `external_task_id`, if it is ours."""
        async with self._sql.read() as session:
            row = await session.one(f"{SELECT_TASK} WHERE external_id = ?", (external_id,))
        return None if row is None else task_from_row(row)

    async def count_by_state(self) -> dict[TaskState, int]:
        """How many tasks are in each state (states with none are left out)."""
        async with self._sql.read() as session:
            rows = await session.all("SELECT state, COUNT(*) FROM tasks GROUP BY state")
        return {TaskState(r[0]): int(r[1]) for r in rows}

    async def ping(self) -> None:
        """One trivial query: raises if the database can't be read right now."""
        async with self._sql.read() as session:
            await session.one("SELECT 1")

    async def task_events(self, task_id: int) -> list[TaskEvent]:
        """A task's history, oldest first; raises TaskNotFound."""
        async with self._sql.read() as session:
            rows = await session.all(
                "SELECT id, task_id, at, from_state, to_state, detail FROM task_events "
                "WHERE task_id = ? ORDER BY id",
                (task_id,),
            )
        if not rows:
            raise TaskNotFound(no_task_message(task_id))  # every stored task has its creation event
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


async def load_task(session: Session, task_id: int) -> TaskRecord:
    """One task; in a write session of a backend with row locks, locked until the commit."""
    row = await session.one(f"{SELECT_TASK} WHERE id = ?{session.for_update}", (task_id,))
    if row is None:
        raise TaskNotFound(no_task_message(task_id))
    return task_from_row(row)


def states_of(states: StateFilter) -> tuple[TaskState, ...]:
    if isinstance(states, TaskState):  # a StrEnum is itself a collection (of characters)
        return (states,)
    return tuple(TaskState(s) for s in states)


def state_clause(states: Iterable[TaskState]) -> tuple[str, list[str]]:
    """`state IN (…)`, narrowed to the partial index when every state is an unfinished one."""
    wanted = tuple(TaskState(s) for s in states)
    if not wanted:
        return "1 = 0", []
    clause = f"state IN ({placeholders(wanted)})"
    if not any(s.is_terminal for s in wanted):
        clause = f"finished_at IS NULL AND {clause}"
    return clause, [s.value for s in wanted]


_TIME_COLUMNS = ("created_at", "updated_at", "queued_at")
_OPTIONAL_TIME_COLUMNS = (
    "submitted_at",
    "finished_at",
    "not_before",
    "last_polled_at",
    "result_deleted_at",
    "cancel_requested_at",
)


def task_from_row(row: Row) -> TaskRecord:
    values: dict[str, Any] = dict(zip(row.keys(), row, strict=True))
    values["request"] = load_stored_request(values.pop("request_json"))
    values["state"] = TaskState(values["state"])
    values["is_held"] = bool(values.pop("held"))
    for key in _TIME_COLUMNS:
        values[key] = from_db_time(values[key])
    for key in _OPTIONAL_TIME_COLUMNS:
        values[key] = from_db_time_or_none(values[key])
    if values["cancel_refund"] is not None:
        values["cancel_refund"] = bool(values["cancel_refund"])
    return TaskRecord(**values)


def no_task_message(task_id: int) -> str:
    return f"There is no task {task_id}."

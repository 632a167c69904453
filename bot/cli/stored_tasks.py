"""What `kling-bot tasks` and `kling-bot task N` read: tasks from the database (an SQLite file is
never created by them; PostgreSQL is read the same way).

Plain reads through the store; the table and the full view are drawn by `bot.cli.table`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from bot.cli.table import NO_VIDEO_STATES
from bot.domain.errors import TaskNotFound
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskEvent, TaskRecord
from bot.store.sql_store import SqlStore


@dataclass(frozen=True, slots=True)
class TaskListing:
    """The newest tasks, and how many more ended without a video in states not asked for."""

    tasks: list[TaskRecord]
    # With `--status failed`, say, the rejected, timed-out and undeliverable ones: an operator
    # looking for what went wrong wants to know they exist.
    other_endings: dict[TaskState, int] = field(default_factory=dict)


async def list_stored(
    database: Path | str, *, states: Collection[TaskState] | None, limit: int
) -> TaskListing | None:
    """The newest tasks (in `states`, if given), newest first; None when there is no database."""
    if not await _exists(database):
        return None
    store = await SqlStore.open(database)
    try:
        tasks = await store.list_tasks(state=states or None, limit=limit)
        others: dict[TaskState, int] = {}
        if states and any(state in NO_VIDEO_STATES for state in states):
            for state in NO_VIDEO_STATES:
                if state not in states:
                    count = await store.count_in_states([state])
                    if count:
                        others[state] = count
        return TaskListing(tasks, others)
    finally:
        await store.close()


async def one_stored(
    database: Path | str, task_id: int
) -> tuple[TaskRecord, list[TaskEvent]] | None:
    """One task and its history, or None when it (or the database) does not exist."""
    if not await _exists(database):
        return None
    store = await SqlStore.open(database)
    try:
        try:
            task = await store.get_task(task_id)
        except TaskNotFound:
            return None
        return task, await store.task_events(task_id)
    finally:
        await store.close()


async def _exists(database: Path | str) -> bool:
    """An SQLite file is never created by a read; a PostgreSQL server's database always exists
    (opening it brings its schema up to date, as the bot would)."""
    return not isinstance(database, Path) or await asyncio.to_thread(database.is_file)

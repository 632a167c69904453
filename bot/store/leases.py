"""The leases part of the store: which process works on which task, and taking over the dead's.

A process claims a task when it sends it (`TaskWrites.start_submission`) or holds it while
answering its member (`create_task(lease=…)`), renews its leases while it lives, and gives them
up when it stops cleanly. A task whose lease ran out belongs to a process that died: the next
`claim_orphans` of a live process makes it that process's, and it resumes the task where the
store says it is. Queued tasks that are not held need no owner: any process may send them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.domain.lifecycle import TaskState
from bot.domain.records import Lease, TaskRecord
from bot.store.sql import Backend, placeholders, to_db_time
from bot.store.task_reads import TASK_COLUMNS, task_from_row

# Past the queue and not finished: a process is (or was) working on these.
_CLAIMABLE = sorted(s.value for s in TaskState if not s.is_terminal and s is not TaskState.QUEUED)
_ORPHAN = (
    f"finished_at IS NULL AND (state IN ({placeholders(_CLAIMABLE)}) "
    "OR (state = 'queued' AND held = 1))"
)


class TaskLeases:
    """Claims on tasks by bot processes (a part of `SqlStore`)."""

    _sql: Backend

    async def claim_orphans(
        self, lease: Lease, *, now: datetime, everything: bool = False
    ) -> list[TaskRecord]:
        """Claim for `lease`'s process every unfinished task past the queue (or held in it) whose
        lease (another process's) has run out, or that never had one; oldest first.

        `everything`: claim them whatever their leases say, for a process that knows no other is
        running on the database (SQLite behind its lock file, at start).
        """
        where = _ORPHAN
        params: list[object] = [*_CLAIMABLE]
        if not everything:
            # Its own tasks stay its own even when it stalled past their lease: it is still
            # working on them, and its next renewal covers them again.
            where += (
                " AND (lease_until IS NULL OR lease_until < ?)"
                " AND (lease_owner IS NULL OR lease_owner <> ?)"
            )
            params += [to_db_time(now), lease.owner]
        async with self._sql.write() as session:
            claimed = await session.all(
                "UPDATE tasks SET lease_owner = ?, lease_until = ? WHERE id IN "
                f"(SELECT id FROM tasks WHERE {where} ORDER BY id{session.skip_locked}) "
                f"RETURNING {TASK_COLUMNS}",
                [lease.owner, to_db_time(lease.until), *params],
            )
        return sorted((task_from_row(row) for row in claimed), key=lambda task: task.id)

    async def renew_leases(self, lease: Lease) -> int:
        """Extend the process's leases on its unfinished tasks to `lease.until`; how many.

        A task another process took over meanwhile (this one stalled past its lease) is not
        touched: it is that process's now.
        """
        async with self._sql.write() as session:
            return await session.run(
                "UPDATE tasks SET lease_until = ? WHERE lease_owner = ? AND finished_at IS NULL",
                (to_db_time(lease.until), lease.owner),
            )

    async def drop_leases(self, owner: str, task_ids: Sequence[int] | None = None) -> int:
        """Give up the process's claims (all, or on `task_ids`): another process may take
        those tasks at once. A process that stops cleanly does this last."""
        where = "lease_owner = ? AND finished_at IS NULL"
        params: list[object] = [owner]
        if task_ids is not None:
            if not task_ids:
                return 0
            where += f" AND id IN ({placeholders(task_ids)})"
        async with self._sql.write() as session:
            return await session.run(
                f"UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE {where}",
                [*params, *(task_ids or ())],
            )

    async def listen_queue(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever another process queues a task or frees an API slot."""
        await self._sql.listen_queue(wake)

"""The messages of a task (a part of `SqlStore`): its status message, the messages linked to
it, the command's token while it runs, the final state still to be shown, a removed result."""

from __future__ import annotations

from datetime import datetime

from bot.domain.errors import IllegalTransition
from bot.domain.lifecycle import TaskState
from bot.domain.records import InteractionToken, LinkKind
from bot.store.moves import FINAL_STATUS_PENDING, INSERT_EVENT, link_to_task
from bot.store.sql import Backend, from_db_time, to_db_time
from bot.store.task_reads import load_task


class TaskMessages:
    """Where a task shows, and how to reach its member (a part of `SqlStore`)."""

    _sql: Backend

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        """Remember the task's status message, and link that message to the task."""
        async with self._sql.write() as session:
            await load_task(session, task_id)
            await session.run(
                "UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id)
            )
            await link_to_task(session, message_id, task_id, "status")
            await session.run(FINAL_STATUS_PENDING, (task_id,))

    async def save_interaction_token(self, task_id: int, token: InteractionToken) -> None:
        """Keep the token of the command that made an unfinished task (a secret), until it ends."""
        async with self._sql.write() as session:
            task = await load_task(session, task_id)
            if task.is_terminal:
                return  # it can't be needed any more: don't keep a secret for nothing
            await session.run(
                "INSERT INTO interaction_tokens (task_id, application_id, token, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "application_id = excluded.application_id, token = excluded.token, "
                "expires_at = excluded.expires_at",
                (task_id, token.application_id, token.token, to_db_time(token.expires_at)),
            )

    async def interaction_token(self, task_id: int) -> InteractionToken | None:
        """The kept token of the task's command, if any (it may have expired)."""
        async with self._sql.read() as session:
            row = await session.one(
                "SELECT application_id, token, expires_at FROM interaction_tokens "
                "WHERE task_id = ?",
                (task_id,),
            )
        if row is None:
            return None
        return InteractionToken(
            int(row["application_id"]), str(row["token"]), from_db_time(row["expires_at"])
        )

    async def final_status_shown(self, task_id: int) -> None:
        """The task's status message shows its final state (or is gone): nothing left to show."""
        async with self._sql.write() as session:
            await session.run("DELETE FROM final_status_pending WHERE task_id = ?", (task_id,))

    async def final_status_pending(self) -> list[int]:
        """Ended tasks whose status message does not show their final state yet, oldest first."""
        async with self._sql.read() as session:
            rows = await session.all("SELECT task_id FROM final_status_pending ORDER BY task_id")
        return [int(row["task_id"]) for row in rows]

    async def mark_result_deleted(self, task_id: int, *, by_user_id: int, now: datetime) -> bool:
        """Record that `by_user_id` removed the task's result message (before it is removed).

        Only a delivered task has a result message. False when it was marked already (a second
        click): the first who removed it stays on record.
        """
        at = to_db_time(now)
        async with self._sql.write() as session:
            task = await load_task(session, task_id)
            if task.state is not TaskState.DELIVERED or task.delivery_message_id is None:
                raise IllegalTransition(f"task {task_id} has no posted result to remove")
            if task.result_deleted_by is not None:
                return False
            await session.run(
                "UPDATE tasks SET result_deleted_by = ?, result_deleted_at = ?, updated_at = ? "
                "WHERE id = ?",
                (by_user_id, at, at, task_id),
            )
            state = TaskState.DELIVERED.value
            await session.run(
                INSERT_EVENT, (task_id, at, state, state, f"result removed by <@{by_user_id}>")
            )
            return True

    async def link_message(self, message_id: int, task_id: int, kind: LinkKind) -> None:
        """Remember that a bot message shows the task; idempotent, ValueError if another task's."""
        async with self._sql.write() as session:
            await load_task(session, task_id)
            await link_to_task(session, message_id, task_id, kind)

"""The `/cancel` use case: who may cancel a task, and which tasks a member can still cancel.

Knows nothing about discord.py. The requester or a moderator may cancel; what a cancellation
does in each state is decided by `bot.domain.cancellation` and carried out by the store in one
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.cancellation import CancelStep
from bot.domain.errors import NotYours, TaskNotFound
from bot.domain.i18n import N_, _
from bot.domain.lifecycle import TaskState
from bot.domain.moderation import MemberFacts
from bot.domain.records import TaskRecord
from bot.engine.task_engine import TaskEngine
from bot.features.quotas import is_server_moderator
from bot.settings import QuotaSettings

NOT_YOURS = N_("Only the member who asked for a video, or a moderator, can cancel it.")
MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancellation did: the step taken and the task as it is now."""

    step: CancelStep
    task: TaskRecord


class CancelService:
    """Cancels tasks for their requesters and for moderators."""

    def __init__(self, engine: TaskEngine, quotas: QuotaSettings) -> None:
        self._engine = engine
        self._store = engine.store
        self._quotas = quotas

    async def cancel(self, guild_id: int, member: MemberFacts, task_id: int) -> Cancelled:
        """Cancel one of this server's tasks; NotYours unless it is the member's or they
        moderate; TaskNotFound for a task of another server or none."""
        try:
            task = await self._store.get_task(task_id)
        except TaskNotFound:
            raise _not_found(task_id) from None
        if task.guild_id != guild_id:
            raise _not_found(task_id)
        if task.user_id != member.user_id and not await is_server_moderator(
            self._store, self._quotas, guild_id, member
        ):
            raise NotYours(_(NOT_YOURS))
        step, now = await self._engine.cancel(
            task_id,
            by_user_id=member.user_id,
            refund_running=self._quotas.refund_cancelled_running,
        )
        return Cancelled(step, now)

    async def cancellable(self, guild_id: int, user_id: int, typed: str) -> list[TaskRecord]:
        """The member's tasks that a cancellation would still change, newest first, matching
        what they typed (the number, or words of the prompt)."""
        unfinished = [s for s in TaskState if not s.is_terminal and s is not TaskState.DELIVERING]
        tasks = await self._store.list_tasks(
            state=unfinished, guild_id=guild_id, user_id=user_id, limit=100
        )
        typed = typed.strip().lstrip("#").casefold()
        found = [
            t
            for t in tasks
            if not t.is_cancel_requested
            and (not typed or str(t.id).startswith(typed) or typed in _words_of(t).casefold())
        ]
        return found[:MAX_CHOICES]


def _words_of(task: TaskRecord) -> str:
    request = task.request
    return request.prompt or " ".join(shot.prompt for shot in request.shots)


def _not_found(task_id: int) -> TaskNotFound:
    return TaskNotFound(
        _("There is no task #{id} on this server. `/tasks` lists your recent tasks.").format(
            id=task_id
        )
    )

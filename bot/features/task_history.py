"""The `/tasks` and `/task` use cases: who may see which tasks, and what is read for them.

Anyone sees their own tasks; moderators see anyone's. Asking for another member's list without
the right is refused plainly (the member knows whom they asked about). Asking for one task by id
that is someone else's, or another server's, reads exactly like asking for a task that does not
exist: ids are sequential, and a different answer would tell who is making what.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from bot.domain.errors import TaskNotFound
from bot.domain.i18n import N_, _
from bot.domain.lifecycle import TaskState
from bot.domain.moderation import MemberFacts
from bot.domain.records import TaskEvent, TaskRecord
from bot.features.extensions import chain_of
from bot.features.quotas import is_server_moderator, require_server_moderator
from bot.settings import QuotaSettings
from bot.store import TaskStore

PAGE_SIZE = 10  # tasks per `/tasks` answer: one embed stays readable
HISTORY_EVENTS = 10  # the latest steps `/task` shows; older ones are counted, not listed
FAMILY_SHOWN = 10  # the children `/task` lists (the first ones made)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a member's tasks, newest first."""

    user_id: int  # whose tasks
    is_own: bool  # the viewer's own tasks (the wording differs)
    state: TaskState | None  # the status filter, if any
    tasks: tuple[TaskRecord, ...]
    has_more: bool  # older matching tasks exist beyond this page
    has_newer: bool = False  # newer matching tasks exist before this page


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """One task and the latest steps of its history."""

    task: TaskRecord
    events: tuple[TaskEvent, ...]  # at most HISTORY_EVENTS, oldest first
    earlier_events: int  # how many older steps are not shown
    parent: TaskRecord | None = None  # the task this one was made from (rerun, edit, variation)
    children: tuple[TaskRecord, ...] = ()  # the tasks made from this one, oldest first
    chain: tuple[TaskRecord, ...] = ()  # an extension's chain: the first video … this one


def not_found(task_id: int) -> TaskNotFound:
    """The one refusal for a task that is missing, elsewhere, or someone else's."""
    return TaskNotFound(
        _("There is no task #{id} that you can see. `/tasks` lists your recent tasks.").format(
            id=task_id
        )
    )


class TaskQueries:
    """Reads tasks for members and moderators; the visibility rules live here."""

    def __init__(self, store: TaskStore, quotas: QuotaSettings) -> None:
        self._store = store
        self._quotas = quotas

    async def recent(
        self,
        guild_id: int,
        viewer: MemberFacts,
        *,
        member_id: int | None = None,
        state: TaskState | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> TaskPage:
        """A member's latest tasks in this server (the viewer's own unless `member_id` says);
        `before_id` pages to older tasks, `after_id` back to newer ones."""
        user_id = viewer.user_id if member_id is None else member_id
        if user_id != viewer.user_id:
            await require_server_moderator(
                self._store, self._quotas, guild_id, viewer, action=N_("see another member's tasks")
            )
        # One more than a page tells whether more tasks exist that way, without a count query.
        found = await self._store.list_tasks(
            state=state,
            guild_id=guild_id,
            user_id=user_id,
            limit=PAGE_SIZE + 1,
            before_id=before_id,
            after_id=after_id,
        )
        if after_id is not None:
            # Newest first, the extra one (if any) is the newest: drop it, older ones exist.
            page, newer = found[-PAGE_SIZE:], len(found) > PAGE_SIZE
            if not page:  # the newer ones are gone (none can be): show the latest instead
                return await self.recent(guild_id, viewer, member_id=member_id, state=state)
            return TaskPage(user_id, user_id == viewer.user_id, state, tuple(page), True, newer)
        return TaskPage(
            user_id=user_id,
            is_own=user_id == viewer.user_id,
            state=state,
            tasks=tuple(found[:PAGE_SIZE]),
            has_more=len(found) > PAGE_SIZE,
            has_newer=before_id is not None,
        )

    async def detail(self, guild_id: int, viewer: MemberFacts, task_id: int) -> TaskDetail:
        """One task of this server: the viewer's own, or anyone's for a moderator."""
        try:
            task = await self._store.get_task(task_id)
        except TaskNotFound:
            raise not_found(task_id) from None
        if task.guild_id != guild_id:
            raise not_found(task_id)
        if task.user_id != viewer.user_id and not await is_server_moderator(
            self._store, self._quotas, guild_id, viewer
        ):
            raise not_found(task_id)
        events = await self._store.task_events(task_id)
        shown = events[-HISTORY_EVENTS:]
        parent = None
        parent_id = task.rerun_of if task.rerun_of is not None else task.parent_id
        if parent_id is not None:
            with contextlib.suppress(TaskNotFound):
                parent = await self._store.get_task(parent_id)
        children = await self._store.children_of(task_id, limit=FAMILY_SHOWN)
        chain = await chain_of(self._store, task) if task.extends is not None else [task]
        return TaskDetail(
            task, tuple(shown), len(events) - len(shown), parent, tuple(children), tuple(chain)
        )

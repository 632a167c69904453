"""Looking up a create whose outcome is unknown, by its external id, and what the look proves.

A create whose answer was lost (`ambiguous`) may or may not have made a task at the API; one
refused as a duplicate did. `CreateLookups` asks the API for the task by the external id the bot
sent, reads what the task's history proves, and `domain/reconcile.decide` says what follows:
adopt it, look again, send it again (proven absent, once), or give up with a refund, because
sending it blindly could bill the account twice. The tracker carries the verdict out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.lifecycle import TaskState
from bot.domain.reconcile import (
    Lookup,
    ReconcileFacts,
    Step,
    Verdict,
    decide,
    resends_of,
    was_proven_created,
)
from bot.domain.records import TaskRecord
from bot.omni.wire import TaskSnapshot
from bot.store import TaskStore

# Tasks the API has certainly made: one of them tells whether lookups by external id work.
KNOWN_AT_API = (
    TaskState.SUBMITTED,
    TaskState.PROCESSING,
    TaskState.SUCCEEDED,
    TaskState.DELIVERING,
    TaskState.DELIVERED,
)


@dataclass(frozen=True, slots=True)
class LookedUp:
    """One lookup of an unconfirmed create, and the verdict on it."""

    verdict: Verdict
    tries: int  # lookups of this task so far, this one included
    snapshot: TaskSnapshot | None  # the task as the API showed it, when found
    error: ApiError | None  # why nothing was found


class CreateLookups:
    """Looks unconfirmed creates up and counts the tries of each until a verdict ends them."""

    def __init__(
        self,
        store: TaskStore,
        query: Callable[[str], Awaitable[TaskSnapshot]],
        attempts: int,
    ) -> None:
        self._store = store
        self._query = query
        self._attempts = attempts
        self.tries: dict[int, int] = {}  # per task still being looked up
        self._lookup_supported: bool | None = None

    async def look_up(self, task: TaskRecord) -> LookedUp:
        """Ask the API for the task by its external id; decide what the answer proves."""
        tries = self.tries.get(task.id, 0) + 1
        self.tries[task.id] = tries
        snapshot = None
        error: ApiError | None = None
        try:
            snapshot = await self._query(task.external_id)
        except ApiError as failure:
            error = failure
        events = await self._store.task_events(task.id)
        proven_created = was_proven_created(events)
        lookup = Lookup.FOUND
        lookups_work = self._lookup_supported
        if error is not None:
            lookup = Lookup.MISSED if error.kind is ApiErrorKind.NOT_FOUND else Lookup.FAILED
            if lookup is Lookup.MISSED and not proven_created:
                lookups_work = await self._lookup_works()
        verdict = decide(
            ReconcileFacts(
                lookup=lookup,
                tries=tries,
                max_tries=self._attempts,
                proven_created=proven_created,
                lookups_work=lookups_work,
                resends=resends_of(events),
            )
        )
        if verdict.step is not Step.LOOK_AGAIN:
            self.forget(task.id)
        return LookedUp(verdict, tries, snapshot, error)

    def forget(self, task_id: int) -> None:
        """The task is no longer looked up (it ended, or a verdict settled it)."""
        self.tries.pop(task_id, None)

    async def _lookup_works(self) -> bool:
        """Whether the API finds tasks by external id: asked once, of a task known to exist."""
        if self._lookup_supported is not None:
            return self._lookup_supported
        known = await self._store.list_tasks(state=list(KNOWN_AT_API), limit=1)
        if not known:
            return False  # nothing to test with: stay careful, decide again later
        try:
            await self._query(known[0].external_id)
        except ApiError as error:
            if error.kind is ApiErrorKind.NOT_FOUND:
                self._lookup_supported = False
            return False
        self._lookup_supported = True
        return True

"""Omni callbacks, as hints to the tracker: which are news, and whether they still arrive.

A callback is a hint, never the truth: it makes the tracker ask the API about the task now, and
the query's answer is what the bot acts on. `CallbackHints` keeps what the latest callback of each
task claimed until that query, and counts the tasks that ended without any callback: after a few
in a row, callbacks are taken to be lost on the way (an unreachable `callback_url`) and polling
is dense again until one comes.
"""

from __future__ import annotations

import enum
import logging

from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.omni.wire import TaskStatus

log = logging.getLogger(__name__)


class Heard(enum.Enum):
    """What the tracker does with a callback."""

    OLD_NEWS = "old news"  # nothing to ask
    ASK_NOW = "ask now"
    ASK_LATER = "ask later"  # a query is on its way, or the task is not tracked yet


def is_news(state: TaskState, claimed: TaskStatus | None) -> bool:
    """Whether a callback claiming `claimed` for a task in `state` tells the bot anything new.

    An end is always news (a query confirms it); so is an unreadable status. That a task is
    queued, or running when the bot knows it runs, is not. A task being reconciled is left to
    the reconciliation's own pace (its lookups are spaced on purpose).
    """
    if state is TaskState.AMBIGUOUS or state.is_terminal:
        return False
    if claimed is None or claimed.is_terminal:
        return True
    if claimed is TaskStatus.RUNNING:
        return state in (TaskState.SUBMITTING, TaskState.SUBMITTED)
    return False


class CallbackHints:
    """What callbacks claimed, per task, until the tracker's next query about it."""

    def __init__(
        self, *, enabled: bool, misses_to_fall_back: int, unconfirmed_retries: int
    ) -> None:
        self._enabled = enabled
        self._misses_to_fall_back = misses_to_fall_back
        self._unconfirmed_retries = unconfirmed_retries
        self._claimed: dict[int, TaskStatus | None] = {}  # for the task's next query
        self._early: dict[int, TaskStatus | None] = {}  # for tasks not tracked yet
        self._again: set[int] = set()  # hinted while a query was on its way: ask again
        self._called_back: set[int] = set()  # tasks that got at least one callback
        self._unconfirmed: dict[int, int] = {}  # ends claimed that queries did not show yet
        self.misses = 0  # tasks in a row that ended without a callback

    @property
    def in_use(self) -> bool:
        """Whether polling may be sparse because callbacks say when tasks change."""
        return self._enabled and self.misses < self._misses_to_fall_back

    def heard(
        self, task: TaskRecord, claimed: TaskStatus | None, *, visiting: bool, tracked: bool
    ) -> Heard:
        """A callback claims `claimed` for `task`. `visiting`: a query about it is on its way;
        `tracked`: the tracker follows it already."""
        self._called_back.add(task.id)
        self.misses = 0
        if not is_news(task.state, claimed):
            return Heard.OLD_NEWS
        if visiting:
            self._again.add(task.id)  # the query on its way may predate the change
            self._claimed[task.id] = claimed
            return Heard.ASK_LATER
        if not tracked:
            # The callback beat the create's answer (or its recording): ask as soon as the
            # task is tracked.
            self._early[task.id] = claimed
            return Heard.ASK_LATER
        self._claimed[task.id] = claimed
        return Heard.ASK_NOW

    def take_early(self, task_id: int) -> bool:
        """The task is tracked now: whether a callback came before, to ask about it at once."""
        if task_id not in self._early:
            return False
        self._claimed[task_id] = self._early.pop(task_id)
        return True

    def take_again(self, task_id: int) -> bool:
        """A query has ended: whether a callback came meanwhile, to ask once more."""
        if task_id not in self._again:
            return False
        self._again.discard(task_id)
        return True

    def take(self, task_id: int) -> tuple[bool, TaskStatus | None]:
        """For the query being asked now: whether a callback asked for it, and what it claimed."""
        return task_id in self._claimed, self._claimed.pop(task_id, None)

    def end_unconfirmed(self, task_id: int, claimed: TaskStatus | None) -> bool:
        """The query says still running: whether to ask again soon, because a callback claimed
        (`claimed`, from `take`) that it ended; the API's views may lag each other. A few times
        at most."""
        if claimed is None or not claimed.is_terminal:
            return False
        tries = self._unconfirmed.get(task_id, 0) + 1
        self._unconfirmed[task_id] = tries
        return tries <= self._unconfirmed_retries

    def task_ended(self, task_id: int) -> None:
        """A task ended: with callbacks configured, did any callback come for it?"""
        if not self._enabled:
            return
        if task_id in self._called_back:
            self.misses = 0
            return
        self.misses += 1
        if self.misses == self._misses_to_fall_back:
            log.warning(
                "callbacks are not arriving: %d tasks in a row ended without one, so polling "
                "is dense again until one comes. Check that omni.callback_url reaches "
                "[http] listen's /omni/callback from the internet (README: Callbacks).",
                self.misses,
            )

    def forget(self, task_id: int) -> None:
        """The task left the tracker for good."""
        self._claimed.pop(task_id, None)
        self._unconfirmed.pop(task_id, None)
        self._called_back.discard(task_id)

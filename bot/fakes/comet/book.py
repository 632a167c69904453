"""The fake's account: its tasks, concurrency slots and external IDs, and the create decision.

No HTTP here: `create` turns a parsed body into (status, JSON payload), so the rules can be read
and tested apart from aiohttp.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

from .config import FakeCometConfig
from .tasks import FakeTask, Outcome, TaskState, plan_outcome, prompts_of
from .validation import validate_create_body
from .views import create_body, kling_error

CreateAnswer = tuple[int, dict[str, object], FakeTask | None]


class TaskBook:
    """Every task the fake account has accepted; states are computed from `clock`."""

    def __init__(
        self, config: FakeCometConfig, rng: random.Random, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.tasks: dict[str, FakeTask] = {}
        self._rng = rng
        self._clock = clock
        self._by_external_id: dict[str, str] = {}
        # Tasks that may still hold a slot; pruned lazily so finished tasks cost nothing.
        self._active: set[str] = set()

    def create(self, body: dict[str, object]) -> CreateAnswer:
        """Validate, moderate, take a slot and make the task: a create's steps in order."""
        if (message := validate_create_body(body)) is not None:
            return 400, kling_error(1201, message), None
        keyword = self.config.moderation_keyword
        if keyword and any(keyword in text for text in prompts_of(body)):
            message = "the input failed the content security policy check"
            return 400, kling_error(1301, message), None
        if len(self.active_task_ids()) >= self.config.max_concurrent_tasks:
            return 429, kling_error(1303, "parallel task over resource pack limit"), None
        external_id = body.get("external_task_id")
        is_duplicate = isinstance(external_id, str) and external_id in self._by_external_id
        if is_duplicate and self.config.reject_duplicate_external_id:
            # Assumption: Kling's duplicate error is undocumented; 400/1201 is our guess.
            message = "external_task_id: already used by another task in this account"
            return 400, kling_error(1201, message), None
        task = self._new_task(body)
        return 200, create_body(task), task

    def find(self, key: str) -> FakeTask | None:
        """The task with this task_id, or (when configured, like Kling) this external_task_id."""
        task = self.tasks.get(key)
        if task is None and self.config.lookup_by_external_id:
            task_id = self._by_external_id.get(key)
            task = self.tasks.get(task_id) if task_id else None
        return task

    def active_task_ids(self) -> list[str]:
        """Tasks holding a concurrency slot now (from create until they end, failures too)."""
        now = self._clock()
        self._active = {t for t in self._active if self.tasks[t].is_active_at(now)}
        return sorted(self._active)

    def state_of(self, task_id: str) -> TaskState:
        """The state a query would see now."""
        return self.tasks[task_id].state_at(self._clock())

    def finish(self, task_id: str, outcome: Outcome, reason: str | None) -> None:
        """End a running task now; `failed` uses `reason` or `config.failure_message`."""
        reason = self.config.failure_message if reason is None else reason
        self.tasks[task_id].finish(self._clock(), outcome, reason)

    def set_timings(
        self, task_id: str, *, submitted_s: float | None, processing_s: float | None
    ) -> None:
        """Change one task's T1/T2, counted from its creation (it may take a slot again)."""
        task = self.tasks[task_id]
        task.set_timings(submitted_s=submitted_s, processing_s=processing_s)
        if task.is_active_at(self._clock()):
            self._active.add(task_id)

    def _new_task(self, body: dict[str, object]) -> FakeTask:
        task_id = str(self._rng.randrange(10**17, 10**18))  # 18 digits, like recent Kling IDs
        while task_id in self.tasks:
            task_id = str(self._rng.randrange(10**17, 10**18))
        outcome = plan_outcome(
            body,
            fail_keyword=self.config.fail_keyword,
            failure_rate=self.config.failure_rate,
            rng=self._rng,
        )
        task = FakeTask(
            task_id=task_id,
            body=body,
            created_at=time.time(),
            created_mono=self._clock(),
            submitted_s=self.config.submitted_s,
            processing_s=self.config.processing_s,
            outcome=outcome,
            failure_reason=self.config.failure_message if outcome == "failed" else "",
            has_video=not self.config.succeed_without_video,
            video_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            told_on=self.config.clock,
        )
        self.tasks[task_id] = task
        self._active.add(task_id)
        if task.external_task_id:
            self._by_external_id.setdefault(task.external_task_id, task_id)
        return task

"""The tracker: polls every live task on its own schedule until it ends, and reconciles the unsure.

`polling.py` decides when; this loop asks. Tasks past `omni.task_timeout_minutes` are ended and
refunded. A create whose outcome is unknown (`ambiguous`) is looked up by its external id
(`create_lookups.py`): found means adopted, proven absent means safe to send again, and anything
else ends it with a refund, because sending it blindly could bill the account twice. A create
refused as a duplicate is known to exist: it is adopted if the lookup finds it, else ended with a
refund, never resent. Omni callbacks (`callback_hints.py`) make it ask about a task at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Unpack

from bot.domain.backoff import Backoff
from bot.domain.clock import Clock
from bot.domain.errors import ApiError, ApiErrorKind, IllegalTransition
from bot.domain.lifecycle import TaskState
from bot.domain.logs import TaskLogContext, task_scope
from bot.domain.polling import (
    CompletionModel,
    PollPolicy,
    completion_key,
    estimated_age_s,
    next_poll_delay,
    safety_net_delay,
)
from bot.domain.reconcile import Step
from bot.domain.records import TaskRecord, TaskUpdate
from bot.domain.telemetry import NoTelemetry, Noticed, Telemetry
from bot.engine.callback_hints import CallbackHints, Heard
from bot.engine.create_lookups import CreateLookups
from bot.engine.pace import QueryPace
from bot.omni.client import OmniClient
from bot.omni.wire import TaskSnapshot, TaskStatus
from bot.store import TaskStore

log = logging.getLogger(__name__)

LIVE = (TaskState.SUBMITTED, TaskState.PROCESSING)
NOT_FOUND_LIMIT = 3  # CometAPI may not know a task for a moment right after the create
LOOK_AGAIN = Backoff(initial_s=4.0, max_s=60.0)  # between lookups of an unconfirmed create


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """Timeouts and rates of the tracker."""

    task_timeout: timedelta = timedelta(minutes=30)
    max_queries_per_s: float = 10.0
    max_parallel_queries: int = 8
    reconcile_grace_s: float = 5.0  # let a create that was cut off land before looking it up
    reconcile_attempts: int = 5
    retry_after_error_s: float = 5.0
    heartbeat_s: float = 5.0  # the loop goes round at least this often (health: it is alive)
    # Omni callbacks are configured: they say when a task changes, and polling is a sparse
    # safety net. After this many tasks in a row ended without a single callback, they are
    # taken to be lost on the way (an unreachable callback_url) and polling is dense again.
    callbacks: bool = False
    callback_misses_to_fall_back: int = 3
    # A callback that claims an end the query does not show yet (the API's views may lag each
    # other) is asked about again this many times, `min_interval_s` apart.
    unconfirmed_end_retries: int = 5


class Tracker:
    """Owns every task at the API; asks about each when its schedule says so."""

    def __init__(
        self,
        store: TaskStore,
        client: OmniClient,
        *,
        clock: Clock,
        on_changed: Callable[[TaskRecord], None],
        on_finished: Callable[[TaskRecord], None],
        policy: PollPolicy | None = None,
        completion: CompletionModel | None = None,
        settings: TrackerSettings = TrackerSettings(),
        pace: QueryPace | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._store = store
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._client = client
        self._clock = clock
        self._on_changed = on_changed
        self._on_finished = on_finished
        self.policy = policy or PollPolicy()
        self.completion = completion or CompletionModel(self.policy)
        self._settings = settings
        self._due: list[tuple[datetime, int, int]] = []  # (when, tie-breaker, task id)
        self._scheduled: dict[int, datetime] = {}
        self._seq = itertools.count()
        self._not_found: dict[int, int] = {}
        self._lookups = CreateLookups(store, self._paced_query, settings.reconcile_attempts)
        self._wake = asyncio.Event()
        self._stopping = False
        self._visits: set[asyncio.Task[None]] = set()  # polls in flight, started by run()
        self._gate = asyncio.Semaphore(settings.max_parallel_queries)
        self._pace = pace or QueryPace(settings.max_queries_per_s, clock)
        self.queries_sent = 0
        self._visiting: set[int] = set()
        self._hints = CallbackHints(
            enabled=settings.callbacks,
            misses_to_fall_back=settings.callback_misses_to_fall_back,
            unconfirmed_retries=settings.unconfirmed_end_retries,
        )

    @property
    def live_count(self) -> int:
        """How many tasks the tracker is following."""
        return len(self._scheduled)

    @property
    def uses_callbacks(self) -> bool:
        """Whether polling is sparse because callbacks say when tasks change."""
        return self._hints.in_use

    @property
    def callback_misses(self) -> int:
        """Tasks in a row that ended without a callback."""
        return self._hints.misses

    def hint(self, task: TaskRecord, claimed: TaskStatus | None) -> bool:
        """A callback says this task changed: ask the API about it now, if that is news.

        A hint, never the truth: the query's answer is what the bot acts on. Returns whether a
        query was asked for (repeats and old news are not).
        """
        heard = self._hints.heard(
            task, claimed, visiting=task.id in self._visiting, tracked=task.id in self._scheduled
        )
        if heard is Heard.ASK_NOW:
            self._schedule(task.id, self._clock.now())
        return heard is not Heard.OLD_NEWS

    def track(self, task: TaskRecord, *, poll_now: bool = False) -> None:
        """Follow a task the API has (or may have): schedule its next question."""
        if task.state in LIVE and self._hints.take_early(task.id):
            poll_now = True
        if task.state is TaskState.AMBIGUOUS:
            when = task.updated_at + timedelta(seconds=self._settings.reconcile_grace_s)
        elif poll_now or task.submitted_at is None:
            when = self._clock.now()
        else:
            when = self._next_poll_at(task, self._clock.now())
        self._schedule(task.id, when)

    def _next_poll_at(self, task: TaskRecord, now: datetime) -> datetime:
        assert task.submitted_at is not None
        age_s = (now - task.submitted_at).total_seconds()
        window = self.completion.window(
            completion_key(task), task.request.mode, task.request.duration_s
        )
        schedule = safety_net_delay if self.uses_callbacks else next_poll_delay
        when = now + timedelta(seconds=schedule(age_s, window, self.policy))
        return min(when, task.submitted_at + self._settings.task_timeout)

    def _schedule(self, task_id: int, when: datetime) -> None:
        self._scheduled[task_id] = when
        heapq.heappush(self._due, (when, next(self._seq), task_id))
        self._wake.set()

    def _pop_due(self, now: datetime) -> list[int]:
        due = []
        while self._due and self._due[0][0] <= now:
            when, _, task_id = heapq.heappop(self._due)
            if self._scheduled.get(task_id) == when:  # skip entries replaced by a later schedule
                del self._scheduled[task_id]
                due.append(task_id)
        return due

    def next_due(self) -> datetime | None:
        """When the tracker next has something to ask."""
        while self._due and self._scheduled.get(self._due[0][2]) != self._due[0][0]:
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    async def run_once(self, *, everything: bool = False) -> int:
        """Ask about every task that is due (or every task); return how many were asked about."""
        now = self._clock.now()
        if everything:
            ids = list(self._scheduled)
            self._scheduled.clear()
            self._due.clear()
        else:
            ids = self._pop_due(now)
        await asyncio.gather(*(self._visit(task_id) for task_id in ids))
        return len(ids)

    async def run(self) -> None:
        """Loop until stopped: ask about due tasks, sleep until the next one or a wake-up."""
        while not self._stopping:
            self._wake.clear()
            self._telemetry.loop_ticked("tracker")
            now = self._clock.now()
            for task_id in self._pop_due(now):
                visit = asyncio.create_task(self._visit(task_id), name=f"poll-task-{task_id}")
                self._visits.add(visit)
                visit.add_done_callback(self._visits.discard)
                visit.add_done_callback(_log_crash)
            when = self.next_due()
            timeout = self._settings.heartbeat_s
            if when is not None:
                timeout = min(timeout, max(0.0, (when - self._clock.now()).total_seconds()))
            await self._clock.sleep(timeout, wake=self._wake)

    def stop(self) -> None:
        """Stop asking; cancel the polls in flight (nothing is lost: states are in the store)."""
        self._stopping = True
        self._wake.set()
        for visit in self._visits:
            visit.cancel()

    async def wait_stopped(self) -> None:
        """Wait until the polls cancelled by `stop()` have ended (before the store is closed)."""
        while self._visits:
            await asyncio.gather(*set(self._visits), return_exceptions=True)

    async def _paced_query(self, task_id_at_api: str) -> TaskSnapshot:
        # A global pace keeps us under the API's query rate however many tasks are live.
        async with self._gate:
            await self._pace.wait_turn()
            self.queries_sent += 1
            return await self._client.query(task_id_at_api)

    async def _visit(self, task_id: int) -> None:
        context = TaskLogContext.of_id(task_id)
        self._visiting.add(task_id)
        try:
            task = await self._store.get_task(task_id)
            context = task.log_context
            with task_scope(context):  # the queries' lines are about this task
                if task.state is TaskState.AMBIGUOUS:
                    await self._reconcile(task)
                elif task.state in LIVE:
                    await self._poll(task)
        except Exception:
            # Whatever broke (a bug, the disk), the task must stay on the schedule.
            log.exception("visit failed %s; asking again later", context)
            delay = self._settings.retry_after_error_s
            self._schedule(task_id, self._clock.now() + timedelta(seconds=delay))
        finally:
            self._visiting.discard(task_id)
            if self._hints.take_again(task_id) and task_id in self._scheduled:
                self._schedule(task_id, self._clock.now())  # still live: ask again, now

    async def _poll(self, task: TaskRecord) -> None:
        now = self._clock.now()
        assert task.api_task_id is not None and task.submitted_at is not None
        # Past the deadline, ask once more before giving up: the video may have finished since
        # the last poll, or while the bot was down for longer than the timeout.
        is_overdue = now - task.submitted_at >= self._settings.task_timeout
        was_hinted, claimed = self._hints.take(task.id)
        try:
            snapshot = await self._paced_query(task.api_task_id)
        except ApiError as error:
            if is_overdue:
                await self._time_out(task)
            else:
                await self._after_query_error(task, error)
            return
        self._not_found.pop(task.id, None)
        await self._store.record_poll(
            task.id, now=self._clock.now(), progress_pct=snapshot.progress_pct
        )
        if snapshot.status.is_terminal:
            self._hints.task_ended(task.id)
        if snapshot.status.is_terminal and snapshot.finished_at is not None:
            delay_s = (self._clock.now() - snapshot.finished_at).total_seconds()
            via: Noticed = "callback" if was_hinted else "poll"
            self._telemetry.completion_noticed(max(0.0, delay_s), via)
        if snapshot.status is TaskStatus.SUCCEEDED:
            age_s = estimated_age_s(task, now, snapshot.finished_at)
            self.completion.observe(completion_key(task), age_s)
            await self._finish(
                task,
                TaskState.SUCCEEDED,
                None,
                detail="the API has the video",
                result_url=snapshot.video_url,
            )
        elif snapshot.status is TaskStatus.FAILED:
            await self._finish(
                task, TaskState.FAILED, snapshot.failure_reason, detail="API: failed"
            )
        elif is_overdue:
            await self._time_out(task)
        else:
            if snapshot.status is TaskStatus.RUNNING and task.state is TaskState.SUBMITTED:
                task = (
                    await self._move(task, TaskState.PROCESSING, detail="API: processing") or task
                )
            self._schedule(task.id, self._after_running_answer(task, claimed))

    def _after_running_answer(self, task: TaskRecord, claimed: TaskStatus | None) -> datetime:
        """When to ask next about a task the API says is still running."""
        now = self._clock.now()
        if self._hints.end_unconfirmed(task.id, claimed):
            # A callback said it ended; the query's view may lag a moment behind.
            return now + timedelta(seconds=self.policy.min_interval_s)
        return self._next_poll_at(task, now)

    async def _time_out(self, task: TaskRecord) -> None:
        minutes = int(self._settings.task_timeout.total_seconds() // 60)
        reason = f"The video was not ready after {minutes} minutes, so the bot stopped waiting."
        await self._finish(task, TaskState.TIMED_OUT, reason, detail="local timeout")

    async def _after_query_error(self, task: TaskRecord, error: ApiError) -> None:
        context = task.log_context
        if error.kind is ApiErrorKind.NOT_FOUND:
            count = self._not_found.get(task.id, 0) + 1
            self._not_found[task.id] = count
            if count >= NOT_FOUND_LIMIT:
                reason = "The video service lost track of the task."
                await self._finish(task, TaskState.FAILED, reason, detail=error.log_line())
                return
        log.warning("query failed %s: %s", context, error.log_line())
        delay = error.retry_after_s or self._settings.retry_after_error_s
        self._schedule(task.id, self._clock.now() + timedelta(seconds=delay))

    async def _reconcile(self, task: TaskRecord) -> None:
        """Look an unconfirmed create up and act on `reconcile.decide`'s verdict."""
        context = task.log_context
        looked = await self._lookups.look_up(task)
        verdict, snapshot, error = looked.verdict, looked.snapshot, looked.error
        if verdict.step is Step.LOOK_AGAIN:
            again_s = LOOK_AGAIN.delay_s(looked.tries)
            self._schedule(task.id, self._clock.now() + timedelta(seconds=again_s))
            return
        if verdict.step is Step.GIVE_UP:
            log.warning("create %s %s: given up", verdict.detail, context)
            detail = verdict.detail if error is None else f"{verdict.detail}: {error.log_line()}"
            await self._finish(task, TaskState.FAILED, verdict.reason, detail=detail)
        elif verdict.step is Step.RESEND:
            log.info("create proven absent %s: sending it again", context)
            moved = await self._store.requeue(
                task.id,
                not_before=None,
                now=self._clock.now(),
                detail="reconciled: the API never got it",
            )
            self._on_changed(moved)
            self._on_finished(moved)  # a slot is free again
        elif snapshot is not None:
            log.info("create reconciled %s api_task_id=%s", context, snapshot.task_id)
            adopted = await self._move(
                task,
                TaskState.SUBMITTED,
                detail="reconciled: found at the API",
                api_task_id=snapshot.task_id or task.external_id,
            )
            if adopted is not None:
                self.track(adopted, poll_now=True)

    async def _finish(
        self,
        task: TaskRecord,
        to: TaskState,
        reason: str | None,
        *,
        detail: str,
        **fields: Unpack[TaskUpdate],
    ) -> None:
        if reason is not None:
            fields["failure_reason"] = reason
        # The task leaves the tracker for good: forget its counters.
        self._not_found.pop(task.id, None)
        self._lookups.forget(task.id)
        self._hints.forget(task.id)
        moved = await self._move(task, to, detail=detail, **fields)
        if moved is not None:
            self._on_finished(moved)

    async def _move(
        self, task: TaskRecord, to: TaskState, *, detail: str, **fields: Unpack[TaskUpdate]
    ) -> TaskRecord | None:
        try:
            moved = await self._store.transition(
                task.id, to, now=self._clock.now(), expect=task.state, detail=detail, **fields
            )
        except IllegalTransition as exc:
            log.error("%s could not move to %s: %s", task.log_context, to.value, exc)
            return None
        self._on_changed(moved)
        return moved


def _log_crash(job: asyncio.Task[None]) -> None:
    if not job.cancelled() and job.exception() is not None:
        log.error("poll crashed", exc_info=job.exception())

"""The task engine: the submitter, the tracker and the couriers, started and resumed as one.

Everything it knows is in the store, so `resume()` after any crash puts every task back where it
was: queued tasks wait their turn, tasks at the API are tracked, a create that was cut off is
reconciled (never re-sent blindly), and finished tasks that were not delivered are delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.backoff import Backoff
from bot.domain.cancellation import CancelStep
from bot.domain.clock import Clock
from bot.domain.errors import IllegalTransition
from bot.domain.fairness import queue_positions
from bot.domain.lifecycle import TaskState
from bot.domain.logs import task_context
from bot.domain.polling import PollPolicy
from bot.domain.records import Lease, NewTask, QuotaCheck, QuotaTerms, TaskRecord
from bot.domain.telemetry import NoTelemetry, Telemetry
from bot.engine.clock import SYSTEM_CLOCK
from bot.engine.courier import Courier, CourierSettings, Deliverer, NoObserver, TaskObserver
from bot.engine.submitter import DEFERRED_CREATE, Prepare, Submitter, waiting_of
from bot.engine.tracker import Tracker, TrackerSettings
from bot.omni.client import OmniClient, TaskStatus
from bot.store import TaskStore

log = logging.getLogger(__name__)


# Which tasks an engine takes care of, by (external id, user id): the bot takes all of them;
# `kling-bot submit` only those started from the command line (members' tasks wait for the bot).
PicksUp = Callable[[str, int | None], bool]


# Kept inputs of a withdrawn task are removed (the bot's media store; nothing for the terminal).
ForgetInputs = Callable[[int], Awaitable[None]]
UNCONFIRMED_REASON = (
    "The bot restarted before it had finished accepting this task, so it was withdrawn. "
    "Please run the command again."
)


async def _forget_nothing(task_id: int) -> None:
    return None


def everything(external_id: str, user_id: int | None) -> bool:
    """The bot's scope: every task in the database."""
    return True


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the engine needs from the configuration."""

    max_concurrent_tasks: int
    results_dir: Path
    max_result_bytes: int
    task_timeout: timedelta = timedelta(minutes=30)
    poll_policy: PollPolicy = field(default_factory=PollPolicy)
    tracker: TrackerSettings | None = None
    backoff: Backoff = DEFERRED_CREATE
    stop_grace_s: float = 10.0
    # How long a process's claim on its tasks lasts unless renewed (a third of it between
    # renewals): after a process dies, another takes its tasks within about this long.
    lease: timedelta = timedelta(seconds=6)


def new_owner_id() -> str:
    """A name for this process's leases: readable in the database, unique per start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TaskEngine:
    """Queue → API → result → destination, for every task, across restarts."""

    def __init__(
        self,
        store: TaskStore,
        client: OmniClient,
        deliverer: Deliverer,
        settings: EngineSettings,
        *,
        observer: TaskObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        picks_up: PicksUp | None = None,
        prepare: Prepare | None = None,
        forget_inputs: ForgetInputs | None = None,
        telemetry: Telemetry | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        # The name of this process's leases; other processes on a shared database take over
        # its tasks when they run out.
        self.owner = owner or new_owner_id()
        self._forget_inputs = forget_inputs or _forget_nothing
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self._picks_up = picks_up or everything
        self.settings = settings
        self._observer = observer or NoObserver()
        self.clock = clock  # the time and the sleep every loop of this engine runs on
        self._background: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        tracker_settings = settings.tracker or TrackerSettings(task_timeout=settings.task_timeout)
        self.courier = Courier(
            store,
            client,
            deliverer,
            CourierSettings(settings.results_dir, settings.max_result_bytes),
            clock=clock,
            on_changed=self._changed,
        )
        self.tracker = Tracker(
            store,
            client,
            clock=clock,
            on_changed=self._changed,
            on_finished=self._finished,
            policy=settings.poll_policy,
            settings=tracker_settings,
            telemetry=self.telemetry,
        )
        self.submitter = Submitter(
            store,
            client,
            slots=settings.max_concurrent_tasks,
            clock=clock,
            on_at_api=self._at_api,
            on_changed=self._changed,
            backoff=settings.backoff,
            rng=rng,
            picks_up=self._picks_up,
            prepare=prepare,
            telemetry=self.telemetry,
            heartbeat_s=tracker_settings.heartbeat_s,
            lease=self.lease,
        )

    # -- what callers use -------------------------------------------------------------------------

    def lease(self) -> Lease:
        """This process's claim on a task, from now for `settings.lease`."""
        return Lease(self.owner, self.clock.now() + self.settings.lease)

    async def enqueue(
        self,
        new: NewTask,
        *,
        quota: QuotaCheck | QuotaTerms | None = None,
        held: bool = False,
    ) -> TaskRecord:
        """Store a task (charging its credits atomically when `quota` is given) and queue it.

        `held` keeps it from the API until `release(task.id)`: the caller has still to tell the
        member, and may have to `withdraw` it if it can't. The hold is stored with the charge, so
        a task whose member was never answered is withdrawn at the next start, not submitted.
        """
        task = await self.store.create_task(
            new, now=self.clock.now(), quota=quota, held=held, lease=self.lease()
        )
        log.info("queued %s cost=%s held=%s", task.log_context, task.cost, held)
        self._changed(task)
        if not held:
            self.submitter.wake()
        return task

    async def queue_positions(self) -> dict[int, int]:
        """Each queued task's place in line (1 = next), as the fair queue would serve them."""
        entries = await self.store.queue_entries()
        waiting = waiting_of([e for e in entries if self._picks_up(e.external_id, e.user_id)])
        return queue_positions(waiting, self.submitter.served_turns)

    def hint(self, task: TaskRecord, claimed: TaskStatus | None) -> bool:
        """A callback says the task changed: the tracker asks the API now if that is news."""
        return self.tracker.hint(task, claimed)

    async def release(self, task_id: int, *, status_message_id: int | None = None) -> None:
        """End the hold of a task enqueued with `held=True`: it may go to the API now.

        `status_message_id`: the message that answered the member, stored with the release.
        """
        task = await self.store.release_task(
            task_id, now=self.clock.now(), status_message_id=status_message_id
        )
        if task is not None:
            self._changed(task)
            self.submitter.wake()

    async def withdraw(self, task_id: int, reason: str) -> bool:
        """Take a task out of the queue with a refund, if it has not left it yet; its kept
        inputs are forgotten."""
        try:
            task = await self.store.transition(
                task_id,
                TaskState.REJECTED,
                now=self.clock.now(),
                expect=TaskState.QUEUED,
                detail="withdrawn",
                failure_reason=reason,
            )
        except IllegalTransition:
            return False  # already on its way: it will be delivered like any other
        self._changed(task)
        try:
            await self._forget_inputs(task_id)
        except Exception:
            log.exception("kept inputs of withdrawn task_id=%s not removed", task_id)
        return True

    async def cancel(
        self, task_id: int, *, by_user_id: int, refund_running: bool
    ) -> tuple[CancelStep, TaskRecord]:
        """Cancel a task (see `SqlStore.cancel`); its status message follows."""
        step, task = await self.store.cancel(
            task_id, by_user_id=by_user_id, refund_running=refund_running, now=self.clock.now()
        )
        if step in (CancelStep.END_NOW, CancelStep.MARK):
            log.info("cancel %s %s by user_id=%s", step.value, task.log_context, by_user_id)
            self._changed(task)
        return step, task

    async def notify(self, task_id: int) -> None:
        """Tell the observer about a task's current state (e.g. once its status message exists)."""
        self._changed(await self.store.get_task(task_id))

    async def resume(self) -> dict[TaskState, int]:
        """Put every unfinished task back on its path; return how many were found per state.

        On a database no other process uses (SQLite), every unfinished task is this process's;
        on a shared one (PostgreSQL), the ones whose process's lease ran out. A task still held
        was accepted by a process that died before its member was answered or its inputs kept:
        it is withdrawn with a refund, never submitted.
        """
        claimed = await self.store.claim_orphans(
            self.lease(), now=self.clock.now(), everything=not self.store.shared
        )
        found = await self._take_over(claimed)
        self.submitter.wake()
        if found:
            log.info("resumed %s", ", ".join(f"{n} {s.value}" for s, n in sorted(found.items())))
        return found

    async def _take_over(self, claimed: list[TaskRecord]) -> dict[TaskState, int]:
        """Pick up tasks this process has just claimed where the store says they are."""
        now = self.clock.now()
        found: dict[TaskState, int] = {}
        foreign: list[int] = []
        for task in claimed:
            if not self._picks_up(task.external_id, task.user_id):
                foreign.append(task.id)  # another kind of process's to take
                continue
            if task.state is TaskState.QUEUED:  # held: its member was never answered
                log.warning("withdrawing unconfirmed %s: the bot stopped before", task.log_context)
                await self.withdraw(task.id, UNCONFIRMED_REASON)
                continue
            found[task.state] = found.get(task.state, 0) + 1
            if task.state is TaskState.SUBMITTING:
                # The create may or may not have left before the stop: find out, don't resend.
                task = await self.store.transition(
                    task.id,
                    TaskState.AMBIGUOUS,
                    now=now,
                    expect=TaskState.SUBMITTING,
                    detail="restarted while submitting",
                )
                self._changed(task)
            if task.state in (TaskState.SUBMITTED, TaskState.PROCESSING, TaskState.AMBIGUOUS):
                self.tracker.track(task)
            elif task.state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
                self.courier.enqueue(task.id)
        if foreign:
            await self.store.drop_leases(self.owner, foreign)
        return found

    async def _keep_leases(self) -> None:
        """While the process lives: renew its leases, and take over the tasks of processes whose
        leases ran out (a shared database only)."""
        period_s = self.settings.lease.total_seconds() / 3
        while True:
            await self.clock.sleep(period_s)
            try:
                await self.store.renew_leases(self.lease())
                orphans = await self.store.claim_orphans(self.lease(), now=self.clock.now())
                taken = await self._take_over(orphans)
            except Exception:
                log.exception("leases not renewed; trying again in %.1f s", period_s)
                continue
            if taken:
                log.warning(
                    "took over the tasks of a stopped process: %s",
                    ", ".join(f"{n} {s.value}" for s, n in sorted(taken.items())),
                )
                self.submitter.wake()

    async def start(self) -> dict[TaskState, int]:
        """Resume, then run the loops in the background until `stop()`; return what resumed."""
        found = await self.resume()
        self._loops = [
            asyncio.create_task(self.submitter.run(), name="submitter"),
            asyncio.create_task(self.tracker.run(), name="tracker"),
            asyncio.create_task(self.courier.run(), name="courier"),
        ]
        if self.store.shared:
            await self.store.listen_queue(self.submitter.wake)
            self._loops.append(asyncio.create_task(self._keep_leases(), name="leases"))
        return found

    async def stop(self) -> None:
        """Stop cleanly: creates in flight get a grace period; every task stays resumable."""
        self.tracker.stop()
        await self.submitter.stop(self.settings.stop_grace_s)
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        self._loops = []
        await self.tracker.wait_stopped()  # no poll may touch the store or session after stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.store.shared:
            # Stopped cleanly: the other processes may take this one's tasks at once.
            await self.store.drop_leases(self.owner)

    async def run_once(self) -> None:
        """One pass of every loop, for tests: submit, ask about due tasks, deliver."""
        await self.submitter.run_once()
        await self.submitter.drain()
        await self.tracker.run_once()
        await self.courier.run_once()

    async def wait_until_settled(self, task_ids: list[int], *, poll_s: float = 0.05) -> None:
        """Wait (while the loops run) until all these tasks are terminal."""
        while True:
            tasks = [await self.store.get_task(task_id) for task_id in task_ids]
            if all(task.is_terminal for task in tasks):
                return
            await asyncio.sleep(poll_s)

    # -- wiring between the loops --------------------------------------------------------------

    def _changed(self, task: TaskRecord) -> None:
        # The observer's lines (and the jobs it starts) are about this task.
        job = asyncio.create_task(self._tell_observer(task), context=task_context(task.log_context))
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _tell_observer(self, task: TaskRecord) -> None:
        try:
            await self._observer.task_changed(task)
        except Exception:
            log.exception("observer failed %s", task.log_context)

    def _at_api(self, task: TaskRecord) -> None:
        self.tracker.track(task)

    def _finished(self, task: TaskRecord) -> None:
        self.submitter.wake()  # a slot is free
        if task.state is TaskState.SUCCEEDED:
            self.courier.enqueue(task.id)

"""The submitter: keeps the account's concurrency slots busy with queued tasks, fairly.

The decisions (who is next, how long to back off) are pure functions; this is the thin loop
around them. `submitting` is written before every create, so a crash mid-create leaves a task
that the tracker reconciles instead of sending it twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Unpack

from bot.domain.backoff import Backoff
from bot.domain.clock import Clock
from bot.domain.errors import ApiError, IllegalTransition, KlingBotError
from bot.domain.fairness import Waiting, choose_next, next_wakeup
from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.logs import task_context
from bot.domain.reconcile import PROVEN_CREATED, AfterRefusal, after_refused_create
from bot.domain.records import Lease, QueueEntry, TaskRecord, TaskUpdate
from bot.domain.request import OmniRequest
from bot.domain.telemetry import NoTelemetry, Telemetry
from bot.omni.client import OmniClient
from bot.store import TaskStore

log = logging.getLogger(__name__)


# How long a task waits before its next create after a 429 or a passing failure (Retry-After
# when the API gave one); and how patiently what a create led to is written to the store.
DEFERRED_CREATE = Backoff(initial_s=2.0, max_s=60.0, jitter="equal")
STORE_WRITE = Backoff(initial_s=0.1, max_s=5.0)


# Turns a task's stored request into the one sent (kept images → base64, a kept clip → a URL
# the API can fetch now), right before the create.
Prepare = Callable[[TaskRecord], Awaitable[OmniRequest]]


async def _as_is(task: TaskRecord) -> OmniRequest:
    return task.request


def member_key(guild_id: int | None, user_id: int | None) -> Hashable:
    """Whose turn a task counts against in the fair queue."""
    if user_id is None:
        return ("cli",)
    return (guild_id, user_id)


def waiting_of(entries: list[QueueEntry]) -> list[Waiting]:
    """The queue as the fairness rules see it."""
    return [
        Waiting(e.task_id, member_key(e.guild_id, e.user_id), e.queued_at, e.not_before)
        for e in entries
    ]


_LONE_LEASE = timedelta(minutes=1)


class Submitter:
    """Moves queued tasks to the API while slots are free; one create per task at a time."""

    def __init__(
        self,
        store: TaskStore,
        client: OmniClient,
        *,
        slots: int,
        clock: Clock,
        on_at_api: Callable[[TaskRecord], None],
        on_changed: Callable[[TaskRecord], None],
        backoff: Backoff = DEFERRED_CREATE,
        rng: random.Random | None = None,
        picks_up: Callable[[str, int | None], bool] | None = None,
        prepare: Prepare | None = None,
        telemetry: Telemetry | None = None,
        heartbeat_s: float = 5.0,
        lease: Callable[[], Lease] | None = None,
    ) -> None:
        self._store = store
        # The claim each sent task is made with (the engine's; a lone submitter's own).
        self._lease = lease or (lambda: Lease(f"submitter-{id(self)}", clock.now() + _LONE_LEASE))
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        self._heartbeat_s = heartbeat_s  # the loop goes round at least this often (health)
        self._client = client
        self._slots = slots
        self._clock = clock
        self._on_at_api = on_at_api  # submitted, or maybe: the tracker takes it from here
        self._on_changed = on_changed
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._picks_up = picks_up
        self._prepare: Prepare = prepare or _as_is
        self._served: dict[Hashable, int] = {}
        self._turn = 0
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._paused_until: datetime | None = None
        self._next_wakeup: datetime | None = None
        self._stopping = False

    @property
    def served_turns(self) -> dict[Hashable, int]:
        """The fairness state: each member's last turn (for queue positions)."""
        return dict(self._served)

    def _may_submit(self, entry: QueueEntry) -> bool:
        return self._picks_up is None or self._picks_up(entry.external_id, entry.user_id)

    def wake(self) -> None:
        """Look at the queue again now (a task was queued or a slot freed)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Launch creates for as many ready tasks as there are free slots; return how many."""
        now = self._clock.now()
        if self._paused_until is not None and now < self._paused_until:
            self._next_wakeup = self._paused_until
            return 0
        free = self._slots - await self._store.count_in_states(AT_API_STATES)
        if free <= 0:
            # Every slot is taken: the queue can't move, so don't read it (a burst of commands
            # would otherwise read the whole queue once per command). A freed slot wakes us.
            self._next_wakeup = None
            return 0
        entries = await self._store.queue_entries()
        waiting = waiting_of([e for e in entries if self._may_submit(e)])
        launched = 0
        while free > 0 and not self._stopping:
            choice = choose_next(waiting, self._served, now)
            if choice is None:
                break
            waiting.remove(choice)
            try:
                task = await self._store.start_submission(
                    choice.task_id, slots=self._slots, lease=self._lease(), now=now
                )
            except IllegalTransition:
                continue  # changed under us (cancelled, or another process took it)
            if task is None:
                break  # every slot is taken (by another process sharing the database)
            self._turn += 1
            self._served[choice.member] = self._turn
            self._on_changed(task)
            job = asyncio.create_task(
                self._submit(task),
                name=f"submit-task-{task.id}",
                context=task_context(task.log_context),  # the create's lines are about the task
            )
            self._in_flight.add(job)
            job.add_done_callback(self._in_flight.discard)
            free -= 1
            launched += 1
        self._next_wakeup = next_wakeup(waiting, now) if waiting else None
        return launched

    async def run(self) -> None:
        """Loop until stopped: submit, then sleep until woken or a backoff ends."""
        while not self._stopping:
            self._wake.clear()
            self._telemetry.loop_ticked("submitter")
            try:
                await self.run_once()
            except Exception:
                log.exception("submitter pass failed; retrying shortly")
                self._next_wakeup = self._clock.now() + timedelta(seconds=1)
            timeout = self._heartbeat_s
            if self._next_wakeup is not None:
                wait_s = (self._next_wakeup - self._clock.now()).total_seconds()
                timeout = min(timeout, max(0.0, wait_s))
            await self._clock.sleep(timeout, wake=self._wake)

    async def stop(self, grace_s: float) -> None:
        """Stop launching; give creates already sent up to `grace_s` to get their answer."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace_s)
            for job in pending:
                job.cancel()  # the task stays `submitting`: the next start reconciles it
            await asyncio.gather(*pending, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for every create already launched (tests and one-shot runs)."""
        while self._in_flight:
            await asyncio.gather(*set(self._in_flight), return_exceptions=True)

    async def _submit(self, task: TaskRecord) -> None:
        context = task.log_context
        try:
            request = await self._prepare(task)
        except ApiError as error:
            # Discord could not be asked for the clip's URL right now: wait and try again.
            await self._after_refusal(task, error, context)
            return
        except Exception as refusal:
            # Nothing was sent: an input kept for the task is gone or unreadable.
            if isinstance(refusal, KlingBotError):
                reason = refusal.member_message
                log.warning("task cannot be sent %s: %s", context, reason)
            else:
                reason = "An input kept for this task could not be read by the bot."
                log.exception("inputs unreadable %s", context)
            await self._move(
                task, TaskState.REJECTED, detail="inputs unavailable", failure_reason=reason
            )
            self.wake()
            return
        try:
            created = await self._client.create(request, external_task_id=task.external_id)
        except ApiError as error:
            await self._after_refusal(task, error, context)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            # We can't tell whether the create left the machine: never send it blindly again.
            log.exception("create crashed; %s marked ambiguous", context)
            moved = await self._move(
                task, TaskState.AMBIGUOUS, detail="the create crashed in the bot"
            )
            if moved is not None:
                self._on_at_api(moved)
            return
        log.info("submitted %s api_task_id=%s", context, created.task_id)
        moved = await self._move(
            task,
            TaskState.SUBMITTED,
            detail=f"api task {created.task_id}",
            api_task_id=created.task_id,
        )
        if moved is not None:
            self._on_at_api(moved)

    async def _after_refusal(self, task: TaskRecord, error: ApiError, context: str) -> None:
        """Act on `reconcile.after_refused_create`'s verdict for this refusal."""
        verdict = after_refused_create(error.kind)
        if verdict.step is AfterRefusal.RECONCILE:
            # The tracker finds it; it is never sent blindly again.
            detail = error.log_line()
            if verdict.proves_created:
                detail = f"{PROVEN_CREATED}: {detail}"
            log.warning("create outcome unknown %s: %s", context, detail)
            moved = await self._move(task, TaskState.AMBIGUOUS, detail=detail)
            if moved is not None:
                self._on_at_api(moved)  # the tracker reconciles it
        elif verdict.step is AfterRefusal.RETRY_LATER:
            delay = self._backoff.delay_s(
                task.attempts + 1, retry_after_s=error.retry_after_s, random_unit=self._rng.random()
            )
            log.info("create deferred %s by %.1fs: %s", context, delay, error.log_line())
            if verdict.pauses_every_create:
                self._paused_until = self._clock.now() + timedelta(seconds=delay)
            not_before = self._clock.now() + timedelta(seconds=delay)
            requeued = await self._persist(
                task,
                TaskState.QUEUED,
                lambda: self._store.requeue(
                    task.id, not_before=not_before, now=self._clock.now(), detail=error.log_line()
                ),
            )
            if requeued is not None:
                self._on_changed(requeued)
            self.wake()
        else:
            log.warning("create refused %s: %s", context, error.log_line())
            await self._move(
                task,
                TaskState.REJECTED,
                detail=error.log_line(),
                failure_reason=error.member_message,
            )
            self.wake()

    async def _move(
        self, task: TaskRecord, to: TaskState, *, detail: str, **fields: Unpack[TaskUpdate]
    ) -> TaskRecord | None:
        moved = await self._persist(
            task,
            to,
            lambda: self._store.transition(
                task.id,
                to,
                now=self._clock.now(),
                expect=TaskState.SUBMITTING,
                detail=detail,
                **fields,
            ),
        )
        if moved is not None:
            self._on_changed(moved)
        return moved

    async def _persist(
        self, task: TaskRecord, to: TaskState, write: Callable[[], Awaitable[TaskRecord]]
    ) -> TaskRecord | None:
        """Record what a create led to, however long the store takes to accept it.

        The create has happened (or was refused): if the write were dropped, the task would sit
        in `submitting` holding a slot, and a task the API may have billed would go untracked
        until a restart. A write that committed before its error shows as the target state.
        """
        for attempt in itertools.count(1):
            try:
                return await write()
            except IllegalTransition as exc:
                current = await self._store.get_task(task.id)
                if current.state is to:
                    return current
                log.error("%s could not move to %s: %s", task.log_context, to.value, exc)
                return None
            except Exception:
                log.exception("%s: recording %s failed; trying again", task.log_context, to.value)
                if self._stopping:
                    return None  # still `submitting`: the next start reconciles it
                await self._clock.sleep(STORE_WRITE.delay_s(attempt))
        raise AssertionError("unreachable: the loop above has no end")

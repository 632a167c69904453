"""The task writes of the store (a part of `SqlStore`; the interface is `TaskStore`).

Only the store modules hold SQL: this one for task writes, `task_reads.py` for task queries,
`quotas.py` for the ledger and quota settings, `elements.py` for the element library, and a
backend (`sqlite.py`, `postgresql.py`) for the connection. Every write is one transaction, and
the invariants that make paid work safe across kill -9 live here: a task is stored together with
its first event and its charge, and a move to a refunded state writes its refund in the same
transaction, so a task is charged once, refunded at most once, and never loses either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from bot.domain.cancellation import CancelStep, cancel_step
from bot.domain.errors import IllegalTransition, TaskNotFound
from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.records import (
    Lease,
    NewTask,
    QuotaCheck,
    QuotaTerms,
    StateFilter,
    TaskRecord,
    TaskUpdate,
)
from bot.domain.request import OmniRequest
from bot.store.moves import INSERT_EVENT, apply_move, link_to_task
from bot.store.quotas import charge, check_quota, resolve_quota
from bot.store.sql import Backend, count, to_db_time
from bot.store.task_reads import (
    SELECT_TASK,
    load_task,
    no_task_message,
    state_clause,
    states_of,
    task_from_row,
)

_INSERT_TASK = (
    "INSERT INTO tasks (external_id, origin, rerun_of, guild_id, channel_id, user_id, "
    "request_json, cost, state, created_at, updated_at, queued_at, parent_id, parent_kind, "
    "credits_left, quota_window, user_name, held, lease_owner, lease_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
# The key of the lock that counts the account's tasks at the API (guild ids, the other keys, are
# never 0).
ACCOUNT_LOCK = 0
COMMAND_LINE_LOCK = 1  # the tasks started from the command line, which have no server
_AT_API, _AT_API_STATES = state_clause(AT_API_STATES)  # counted on the unfinished tasks' index
# Moves that a task whose cancellation was asked for makes to CANCELLED instead: delivering
# what the API made, or sending again what it never made.
_CANCELLED_INSTEAD = frozenset({TaskState.SUCCEEDED, TaskState.QUEUED})
# The columns a transition may set; names reach SQL only after a check against this set.
_UPDATABLE = frozenset(TaskUpdate.__annotations__)


class TaskWrites:
    """The task writes (a part of `SqlStore`)."""

    _sql: Backend

    async def create_task(
        self,
        new: NewTask,
        *,
        now: datetime,
        quota: QuotaCheck | QuotaTerms | None = None,
        held: bool = False,
        lease: Lease | None = None,
    ) -> TaskRecord:
        """Store a QUEUED task and its first event; with `quota`, check and charge in the same
        transaction as the insert, under the server's lock, so concurrent creates (from any
        process) never overspend. Raises QuotaExceeded.

        `QuotaTerms` are resolved into a limit in that transaction too, from the overrides and
        server settings as they are then: a limit a moderator set a moment ago applies.

        `held`: the task is not to be submitted until `release_task` (its member has not been
        answered yet); written with the charge, so a crash in between leaves it held.
        `lease`: the process answering its member claims it (another process leaves a held task
        alone while the lease lasts, and withdraws it when it runs out).
        Idempotent on `new.external_id`: a retried create returns the task already stored.
        """
        at = to_db_time(now)
        if quota is not None and (new.guild_id is None or new.user_id is None):
            raise ValueError("a quota applies to a server member: guild_id and user_id are needed")
        # The server's lock (any lock, for a command-line task): a charge is read then written,
        # and a retried create finds the first one's row instead of racing it to the insert.
        lock = new.guild_id if new.guild_id is not None else COMMAND_LINE_LOCK
        async with self._sql.write(lock=lock) as session:
            row = await session.one(f"{SELECT_TASK} WHERE external_id = ?", (new.external_id,))
            if row is not None:
                return _same_task(task_from_row(row), new)
            left: int | None = None
            window: str | None = None
            if quota is not None:
                check = await resolve_quota(session, new, quota, now)
                left = await check_quota(session, new, check)
                window = None if left is None else check.window
            inserted = await session.one(
                _INSERT_TASK,
                (
                    new.external_id,
                    new.origin,
                    new.rerun_of,
                    new.guild_id,
                    new.channel_id,
                    new.user_id,
                    new.request.model_dump_json(),
                    new.cost,
                    TaskState.QUEUED.value,
                    at,
                    at,
                    at,
                    new.parent_id,
                    new.parent_kind,
                    left,
                    window,
                    new.user_name,
                    int(held),
                    None if lease is None else lease.owner,
                    None if lease is None else to_db_time(lease.until),
                ),
            )
            assert inserted is not None  # RETURNING gives the inserted row
            task_id = int(inserted["id"])
            detail = _creation_detail(new)
            await session.run(INSERT_EVENT, (task_id, at, None, TaskState.QUEUED.value, detail))
            if quota is not None:
                await charge(session, new, task_id, at)
            if not held:
                await session.notify_queue()
            return await load_task(session, task_id)

    async def transition(
        self,
        task_id: int,
        to: TaskState,
        *,
        now: datetime,
        expect: StateFilter | None = None,
        detail: str = "",
        **fields: Unpack[TaskUpdate],
    ) -> TaskRecord:
        """Compare-and-set: move the task to `to`, setting `fields`, in one transaction.

        Raises IllegalTransition when the lifecycle forbids the move or the task is not in
        `expect` (someone else moved it). Also writes the event, submitted_at/finished_at, the
        refund when `to` is refunded, and message links for status/delivery message ids.

        A task whose cancellation was asked for goes to CANCELLED instead of SUCCEEDED (and
        of QUEUED, see `requeue`), without the fields: the returned record says so.
        """
        return await self._move(task_id, to, now=now, expect=expect, detail=detail, fields=fields)

    async def requeue(
        self, task_id: int, *, not_before: datetime | None, now: datetime, detail: str = ""
    ) -> TaskRecord:
        """SUBMITTING or AMBIGUOUS → QUEUED, attempts + 1: the create surely did not happen, or
        sending it again is refused as a duplicate if it did (a 504/524 on a create).

        The task keeps its place in the queue (queued_at is unchanged) but waits for `not_before`.
        A task whose cancellation was asked for ends CANCELLED (refunded) instead.
        """
        return await self._move(
            task_id,
            TaskState.QUEUED,
            now=now,
            expect=(TaskState.SUBMITTING, TaskState.AMBIGUOUS),
            detail=detail,
            fields={"not_before": not_before},
            is_attempt=True,
        )

    async def release_task(
        self, task_id: int, *, now: datetime, status_message_id: int | None = None
    ) -> TaskRecord | None:
        """End a queued task's hold: it may go to the API. None when it was not held (any more):
        a task that left the queue while held (withdrawn) is not touched.

        `status_message_id`: the message that answered the member, remembered (and linked to
        the task) in the same transaction.
        """
        at = to_db_time(now)
        async with self._sql.write() as session:
            released = await session.run(
                "UPDATE tasks SET held = 0, updated_at = ?, "
                "status_message_id = COALESCE(?, status_message_id) WHERE id = ? AND held = 1",
                (at, status_message_id, task_id),
            )
            if released == 0:
                return None
            await session.run(
                INSERT_EVENT,
                (task_id, at, TaskState.QUEUED.value, TaskState.QUEUED.value, "released"),
            )
            if status_message_id is not None:
                await link_to_task(session, status_message_id, task_id, "status")
            await session.notify_queue()
            return await load_task(session, task_id)

    async def start_submission(
        self, task_id: int, *, slots: int, lease: Lease, now: datetime
    ) -> TaskRecord | None:
        """QUEUED → SUBMITTING when the account has a free slot, claimed by `lease`'s process.

        `slots` is the account's concurrency: the tasks at the API are counted in the same
        transaction, under one lock for the whole account, so processes sharing the database
        never send more at once than it allows. None when every slot is taken; raises
        IllegalTransition when the task left the queue (cancelled, or another process took it).
        """
        at = to_db_time(now)
        async with self._sql.write(lock=ACCOUNT_LOCK) as session:
            at_api = await count(
                session, f"SELECT COUNT(*) FROM tasks WHERE {_AT_API}", _AT_API_STATES
            )
            if at_api >= slots:
                return None
            current = await load_task(session, task_id)
            if current.state is not TaskState.QUEUED:
                raise IllegalTransition(
                    f"task {task_id} is {current.state.value}, not queued: it can't be submitted"
                )
            claim = {"lease_owner": lease.owner, "lease_until": to_db_time(lease.until)}
            return await apply_move(session, current, TaskState.SUBMITTING, at, "", claim)

    async def replace_request(
        self, task_id: int, request: OmniRequest, *, now: datetime, detail: str
    ) -> TaskRecord:
        """Swap a still-queued task's request (e.g. for one that points at the kept inputs).

        Only while QUEUED: what was sent to the API must stay what the store says was asked.
        """
        at = to_db_time(now)
        async with self._sql.write() as session:
            replaced = await session.run(
                "UPDATE tasks SET request_json = ?, updated_at = ? WHERE id = ? AND state = ?",
                (request.model_dump_json(), at, task_id, TaskState.QUEUED.value),
            )
            if replaced == 0:
                raise IllegalTransition(f"task {task_id} is not queued: its request is final")
            await session.run(
                INSERT_EVENT,
                (task_id, at, TaskState.QUEUED.value, TaskState.QUEUED.value, detail),
            )
            return await load_task(session, task_id)

    async def record_poll(
        self, task_id: int, *, now: datetime, progress_pct: int | None = None
    ) -> None:
        """Note a poll of the API: last_polled_at, poll_count + 1, progress when known. No event."""
        at = to_db_time(now)
        # One statement, atomic on its own: no transaction to wait for on every poll.
        async with self._sql.read() as session:
            polled = await session.run(
                "UPDATE tasks SET last_polled_at = ?, updated_at = ?, poll_count = poll_count + 1,"
                " progress_pct = COALESCE(?, progress_pct) WHERE id = ?",
                (at, at, progress_pct, task_id),
            )
        if polled == 0:
            raise TaskNotFound(no_task_message(task_id))

    async def cancel(
        self, task_id: int, *, by_user_id: int, refund_running: bool, now: datetime
    ) -> tuple[CancelStep, TaskRecord]:
        """Cancel a task as `bot.domain.cancellation` says for its state, in one transaction.

        Queued (or made and not yet posted): it ends CANCELLED now. At the API: the request is
        written, and the task ends CANCELLED when the API finishes it (see `transition`).
        Being posted, or ended: nothing changes. `refund_running` decides whether a video the
        API made anyway is refunded. Returns the step taken and the task as it is now.
        """
        at = to_db_time(now)
        async with self._sql.write() as session:
            current = await load_task(session, task_id)
            step = cancel_step(current.state)
            if step is CancelStep.MARK and current.is_cancel_requested:
                return step, current  # asked already: the first request stands
            if step not in (CancelStep.END_NOW, CancelStep.MARK):
                return step, current
            request = {
                "cancel_requested_at": at,
                "cancelled_by": by_user_id,
                "cancel_refund": int(refund_running),
            }
            if step is CancelStep.END_NOW:
                detail = f"cancelled by <@{by_user_id}>"
                return step, await apply_move(
                    session, current, TaskState.CANCELLED, at, detail, request
                )
            assignments = ", ".join(f"{column} = ?" for column in request)
            await session.run(
                f"UPDATE tasks SET {assignments}, updated_at = ? WHERE id = ?",
                [*request.values(), at, task_id],
            )
            state = current.state.value
            detail = f"cancellation asked by <@{by_user_id}>: it ends when Kling is done"
            await session.run(INSERT_EVENT, (task_id, at, state, state, detail))
            return step, await load_task(session, task_id)

    async def _move(
        self,
        task_id: int,
        to: TaskState,
        *,
        now: datetime,
        expect: StateFilter | None,
        detail: str,
        fields: TaskUpdate,
        is_attempt: bool = False,
    ) -> TaskRecord:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(f"a transition can't set {', '.join(sorted(unknown))}")
        at = to_db_time(now)
        async with self._sql.write() as session:
            # The write lock (SQLite) or the row lock (PostgreSQL) is held from this read to the
            # commit: compare-and-set.
            current = await load_task(session, task_id)
            if expect is not None and current.state not in states_of(expect):
                wanted = " or ".join(s.value for s in states_of(expect))
                raise IllegalTransition(
                    f"task {task_id} is {current.state.value}, not {wanted}: "
                    f"it can't go to {to.value} from here"
                )
            if current.is_cancel_requested and to in _CANCELLED_INSTEAD:
                # Cancelled while at the API: what the API made is never delivered, and what it
                # never made is not sent again. Decided here, under the write lock, so a
                # cancellation that lands during a poll or a create can't be missed.
                to, detail = TaskState.CANCELLED, f"{detail}; cancelled".lstrip("; ")
                fields = {}
            return await apply_move(session, current, to, at, detail, fields, is_attempt=is_attempt)


def _creation_detail(new: NewTask) -> str:
    if new.rerun_of is not None:
        return f"rerun of task {new.rerun_of}"
    if new.parent_kind == "variation":
        return f"variation of task {new.parent_id}"
    if new.parent_kind == "edit":
        return f"edit of task {new.parent_id}"
    if new.parent_kind == "extension":
        return f"extension of task {new.parent_id}"
    return f"created ({new.origin})"


def _same_task(stored: TaskRecord, new: NewTask) -> TaskRecord:
    """The stored task for a retried create; a different task under the same id is a bug."""
    asked = (new.guild_id, new.user_id, new.request)
    if (stored.guild_id, stored.user_id, stored.request) != asked:
        raise ValueError(f"external id {new.external_id} already names task {stored.id}")
    return stored

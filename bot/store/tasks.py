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
from typing import Any, Unpack

from bot.domain.cancellation import CancelStep, cancel_step, refunds_cancellation
from bot.domain.errors import IllegalTransition, TaskNotFound
from bot.domain.lifecycle import AT_API_STATES, TaskState, check_move
from bot.domain.records import (
    InteractionToken,
    Lease,
    LinkKind,
    NewTask,
    QuotaCheck,
    QuotaTerms,
    StateFilter,
    TaskRecord,
    TaskUpdate,
)
from bot.domain.request import OmniRequest
from bot.store.quotas import charge, check_quota, refund, resolve_quota
from bot.store.sql import Backend, Session, count, from_db_time, placeholders, to_db_time
from bot.store.task_reads import (
    SELECT_TASK,
    load_task,
    no_task_message,
    states_of,
    task_from_row,
)

_INSERT_TASK = (
    "INSERT INTO tasks (external_id, origin, rerun_of, guild_id, channel_id, user_id, "
    "request_json, cost, state, created_at, updated_at, queued_at, parent_id, parent_kind, "
    "credits_left, quota_window, user_name, held, lease_owner, lease_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_INSERT_EVENT = (
    "INSERT INTO task_events (task_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)"
)
# A task that has ended and has a status message: its final state is still to be shown there.
_FINAL_STATUS_PENDING = (
    "INSERT INTO final_status_pending (task_id) SELECT id FROM tasks "
    "WHERE id = ? AND finished_at IS NOT NULL AND status_message_id IS NOT NULL "
    "ON CONFLICT DO NOTHING"
)
# Returns the row when the message is (now) linked to this task; nothing when another task has it.
_LINK_MESSAGE = (
    "INSERT INTO message_links (message_id, task_id, kind) VALUES (?, ?, ?) "
    "ON CONFLICT (message_id) DO UPDATE SET kind = excluded.kind "
    "WHERE message_links.task_id = excluded.task_id RETURNING task_id"
)
# The key of the lock that counts the account's tasks at the API (guild ids, the other keys, are
# never 0).
ACCOUNT_LOCK = 0
COMMAND_LINE_LOCK = 1  # the tasks started from the command line, which have no server
_AT_API_STATES = sorted(s.value for s in AT_API_STATES)
_AT_API = f"finished_at IS NULL AND state IN ({placeholders(_AT_API_STATES)})"
# Moves that a task whose cancellation was asked for makes to CANCELLED instead: delivering
# what the API made, or sending again what it never made.
_CANCELLED_INSTEAD = frozenset({TaskState.SUCCEEDED, TaskState.QUEUED})
# The columns a transition may set; names reach SQL only after a check against this set.
_UPDATABLE = frozenset(TaskUpdate.__annotations__)
# Setting one of these message ids also links the message to the task (for reaction reruns).
_LINKED_COLUMNS: tuple[tuple[str, LinkKind], ...] = (
    ("status_message_id", "status"),
    ("delivery_message_id", "result"),
)


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
            await session.run(_INSERT_EVENT, (task_id, at, None, TaskState.QUEUED.value, detail))
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
                _INSERT_EVENT,
                (task_id, at, TaskState.QUEUED.value, TaskState.QUEUED.value, "released"),
            )
            if status_message_id is not None:
                await _link(session, status_message_id, task_id, "status")
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
            return await _apply_move(session, current, TaskState.SUBMITTING, at, "", claim)

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
                _INSERT_EVENT,
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

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        """Remember the task's status message, and link that message to the task."""
        async with self._sql.write() as session:
            await load_task(session, task_id)
            await session.run(
                "UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id)
            )
            await _link(session, message_id, task_id, "status")
            await session.run(_FINAL_STATUS_PENDING, (task_id,))

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
                return step, await _apply_move(
                    session, current, TaskState.CANCELLED, at, detail, request
                )
            assignments = ", ".join(f"{column} = ?" for column in request)
            await session.run(
                f"UPDATE tasks SET {assignments}, updated_at = ? WHERE id = ?",
                [*request.values(), at, task_id],
            )
            state = current.state.value
            detail = f"cancellation asked by <@{by_user_id}>: it ends when Kling is done"
            await session.run(_INSERT_EVENT, (task_id, at, state, state, detail))
            return step, await load_task(session, task_id)

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
                _INSERT_EVENT, (task_id, at, state, state, f"result removed by <@{by_user_id}>")
            )
            return True

    async def link_message(self, message_id: int, task_id: int, kind: LinkKind) -> None:
        """Remember that a bot message shows the task; idempotent, ValueError if another task's."""
        async with self._sql.write() as session:
            await load_task(session, task_id)
            await _link(session, message_id, task_id, kind)

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
            return await _apply_move(
                session, current, to, at, detail, fields, is_attempt=is_attempt
            )


async def _apply_move(
    session: Session,
    current: TaskRecord,
    to: TaskState,
    at: str,
    detail: str,
    fields: TaskUpdate | dict[str, Any],
    *,
    is_attempt: bool = False,
) -> TaskRecord:
    """The move itself, inside the caller's write transaction."""
    task_id = current.id
    check_move(current.state, to)
    if current.is_held and to is TaskState.SUBMITTING:
        raise IllegalTransition(f"task {task_id} is held: its member has not been answered yet")
    values: dict[str, Any] = {
        k: to_db_time(v) if isinstance(v, datetime) else v for k, v in fields.items()
    }
    if is_attempt:
        values["attempts"] = current.attempts + 1
    values.update(state=to.value, updated_at=at)
    if to is not TaskState.QUEUED:
        values["held"] = 0  # only a queued task is held (withdrawn: the hold is moot)
    if to is TaskState.SUBMITTED:
        values["submitted_at"] = at
    if to.is_terminal:
        values["finished_at"] = at
    assignments = ", ".join(f"{column} = ?" for column in values)
    await session.run(f"UPDATE tasks SET {assignments} WHERE id = ?", [*values.values(), task_id])
    if to is TaskState.QUEUED or (current.state.is_at_api and not to.is_at_api):
        await session.notify_queue()  # a task is back in line, or an API slot is free
    await session.run(_INSERT_EVENT, (task_id, at, current.state.value, to.value, detail))
    refund_running = bool(values.get("cancel_refund", current.cancel_refund))
    if to.is_refunded or (
        to is TaskState.CANCELLED
        and refunds_cancellation(current.state, refund_running=refund_running)
    ):
        await refund(session, task_id, at)
    if to.is_terminal:
        await session.run(_FINAL_STATUS_PENDING, (task_id,))
        await session.run("DELETE FROM interaction_tokens WHERE task_id = ?", (task_id,))
    for column, kind in _LINKED_COLUMNS:
        if values.get(column) is not None:
            await _link(session, values[column], task_id, kind)
    return await load_task(session, task_id)


async def _link(session: Session, message_id: int, task_id: int, kind: LinkKind) -> None:
    if await session.all(_LINK_MESSAGE, (message_id, task_id, kind)):
        return
    row = await session.one("SELECT task_id FROM message_links WHERE message_id = ?", (message_id,))
    owner = "another task" if row is None else f"task {row['task_id']}"
    raise ValueError(f"message {message_id} already belongs to {owner}")


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

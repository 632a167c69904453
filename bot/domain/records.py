"""The frozen records the task store takes and returns: tasks, their history, quota settings.

Callers never see a database row. Times are timezone-aware UTC datetimes; ids are Discord
snowflakes (ints) or the store's own task numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict

from bot.domain.lifecycle import TaskState
from bot.domain.logs import TaskLogContext
from bot.domain.request import OmniRequest

Origin = Literal["discord", "cli", "rerun"]
LedgerKind = Literal["charge", "refund", "reset"]
QuotaWindow = Literal["day", "week", "month"]
OverrideTarget = Literal["member", "role"]
LinkKind = Literal["status", "result"]
# How a task was made from its parent's result: Edit with Kling, the 🎲 Variation button, or
# ▶ Extend (the result is the previous shot, this task the next).
ParentKind = Literal["edit", "variation", "extension"]
# One state or several, wherever tasks are filtered by state.
StateFilter = TaskState | Collection[TaskState]


def new_external_id() -> str:
    """A globally unique id for a task, sent to the API as its `external_task_id`."""
    return f"kob-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task about to be stored: who asked, where, for what, at what cost in credits."""

    origin: Origin
    request: OmniRequest
    cost: int
    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None  # None only for tasks started from the command line
    rerun_of: int | None = None
    external_id: str = field(default_factory=new_external_id)
    parent_id: int | None = None  # the task whose delivered result this one was made from
    parent_kind: ParentKind | None = None  # how: set exactly when parent_id is
    user_name: str | None = None  # the requester's name as Discord showed it, for operators

    def __post_init__(self) -> None:
        # These are programming errors, not member input: fail loudly before anything is written.
        if self.cost < 0:
            raise ValueError(f"a task's cost can't be negative ({self.cost})")
        where = (self.guild_id, self.channel_id, self.user_id)
        if self.origin != "cli" and None in where:
            raise ValueError(f"a {self.origin} task needs guild_id, channel_id and user_id")
        if (self.origin == "rerun") != (self.rerun_of is not None):
            raise ValueError("rerun_of is set exactly when origin is 'rerun'")
        if (self.parent_id is None) != (self.parent_kind is None):
            raise ValueError("parent_id and parent_kind are set together")


@dataclass(frozen=True, slots=True)
class Lease:
    """A bot process's claim on the tasks it works on, good until `until` unless renewed."""

    owner: str  # the process's id, unique per start
    until: datetime


@dataclass(frozen=True, slots=True)
class InteractionToken:
    """The token of the command that made a task: a way to answer the member for 15 minutes.

    A secret: kept out of `repr` (and so out of logs and tracebacks).
    """

    application_id: int
    token: str = field(repr=False)
    expires_at: datetime

    def is_alive(self, now: datetime) -> bool:
        """Whether Discord still takes followups with it."""
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """The limits to enforce while a task is created; resolved by the quota rules beforehand."""

    limit: int | None  # credits per window: None = unlimited, 0 = blocked
    window: QuotaWindow
    window_start: datetime  # ledger rows counted from here on
    resets_at: datetime  # told to the member when they are refused
    max_in_flight_per_member: int | None = None  # None = no cap
    max_in_flight_per_server: int | None = None
    server: ServerBudgetCheck | None = None  # None: the server has no budget


@dataclass(frozen=True, slots=True)
class ServerBudgetCheck:
    """The whole server's budget, charged with the member's own quota."""

    limit: int  # credits per window for the whole server (0 blocks)
    window: QuotaWindow
    window_start: datetime
    resets_at: datetime


@dataclass(frozen=True, slots=True)
class QuotaTerms:
    """A member's quota before its limit is known: the store resolves the limit from these and
    the server's stored overrides inside the transaction that charges, so a `/quota set` that
    lands while a command is on its way is honoured."""

    config_limit: int | None  # `quotas.default_limit`: None = unlimited
    config_window: QuotaWindow
    role_ids: tuple[int, ...] = ()
    max_in_flight_per_member: int | None = None  # None = no cap
    max_in_flight_per_server: int | None = None
    config_server_limit: int | None = None  # `quotas.server_limit`: None = unlimited


class TaskUpdate(TypedDict, total=False):
    """The columns a transition may set besides the state and its timestamps."""

    api_task_id: str | None
    attempts: int
    not_before: datetime | None
    progress_pct: int | None
    failure_reason: str | None
    result_url: str | None
    result_path: str | None
    result_size_bytes: int | None
    status_message_id: int | None
    delivery_message_id: int | None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One stored task, as it is now."""

    id: int  # the short number members type in `/task id:`
    external_id: str
    origin: Origin
    rerun_of: int | None
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    request: OmniRequest
    cost: int
    state: TaskState
    api_task_id: str | None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime  # when it joined the queue; kept across requeues so it keeps its place
    submitted_at: datetime | None
    finished_at: datetime | None  # set exactly when the state is terminal
    attempts: int  # create attempts that were sent back to the queue
    not_before: datetime | None  # earliest next submit after a 429 or a backoff
    last_polled_at: datetime | None
    poll_count: int
    progress_pct: int | None
    failure_reason: str | None
    result_url: str | None
    result_path: str | None
    result_size_bytes: int | None
    status_message_id: int | None
    delivery_message_id: int | None
    parent_id: int | None = None  # the task whose delivered result this one was made from
    parent_kind: ParentKind | None = None  # how: "edit", "variation" or "extension"
    result_deleted_by: int | None = None  # who removed the result message (🗑), if anyone
    result_deleted_at: datetime | None = None
    cancel_requested_at: datetime | None = None  # when /cancel was asked for, if it was
    cancelled_by: int | None = None  # who asked
    cancel_refund: bool | None = None  # whether a video the API makes anyway is refunded
    credits_left: int | None = None  # the member's credits left after this task's charge
    quota_window: QuotaWindow | None = None  # ...in this window (None: no limit applied)
    user_name: str | None = None  # the requester's name when the task was made, if known
    # Queued, but its member has not been answered (or its inputs kept) yet: not to be submitted.
    is_held: bool = False

    @property
    def is_cancel_requested(self) -> bool:
        """A cancellation was asked for: the task ends cancelled, never delivered."""
        return self.cancel_requested_at is not None

    @property
    def edited_from(self) -> int | None:
        """The task whose result this one edits (Edit with Kling), if it is an edit."""
        return self.parent_id if self.parent_kind == "edit" else None

    @property
    def varied_from(self) -> int | None:
        """The task whose result this one is a variation of (🎲), if it is one."""
        return self.parent_id if self.parent_kind == "variation" else None

    @property
    def extends(self) -> int | None:
        """The task whose result this one continues (▶ Extend), if it is an extension."""
        return self.parent_id if self.parent_kind == "extension" else None

    @property
    def is_terminal(self) -> bool:
        """True when nothing more will ever happen to the task."""
        return self.state.is_terminal

    @property
    def log_context(self) -> TaskLogContext:
        """`task_id=… guild_id=… channel_id=… user_id=…`: what every line about this task carries
        (in text; JSON lines get them as fields)."""
        return TaskLogContext(self.id, self.guild_id, self.channel_id, self.user_id)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A queued task, reduced to what the fair queue decides on."""

    task_id: int
    guild_id: int | None
    user_id: int | None
    queued_at: datetime
    not_before: datetime | None
    external_id: str


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One step of a task's history: a state change (or its creation, from_state None)."""

    id: int
    task_id: int
    at: datetime
    from_state: TaskState | None
    to_state: TaskState
    detail: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only quota ledger row: +credits for a charge, − for a refund or a reset."""

    id: int
    guild_id: int
    user_id: int
    task_id: int | None  # None for a reset
    kind: LedgerKind
    credits: int
    at: datetime  # when the row was written
    counts_at: datetime  # whose window the credits belong to: a refund counts where its charge did


@dataclass(frozen=True, slots=True)
class QuotaOverride:
    """A moderator's limit for one member or one role in a server."""

    guild_id: int
    target_kind: OverrideTarget
    target_id: int
    limit: int | None  # credits per window: None = unlimited, 0 = blocked
    window: QuotaWindow | None  # None = the server's window
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A server's own quota settings; None means "use the config's value"."""

    guild_id: int
    default_limit: int | Literal["unlimited"] | None = None  # as the config spells it
    window: QuotaWindow | None = None
    moderator_role_ids: tuple[int, ...] = ()
    server_limit: int | Literal["unlimited"] | None = None  # the whole server's budget
    server_window: QuotaWindow | None = None  # None: the server's member window


@dataclass(frozen=True, slots=True)
class LibraryElement:
    """A Kling element in a server's library: the name members type, and its ID."""

    guild_id: int
    name: str
    element_id: int
    added_by: int
    added_at: datetime

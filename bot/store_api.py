"""`TaskStore`: storage as the bot sees it, in domain operations; no SQL crosses it.

`SqliteStore` (store.py) implements it. A PostgreSQL backend for several bot processes would
implement the same protocol, and no caller would change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, Unpack

from bot.cancellation import CancelStep
from bot.lifecycle import TaskState
from bot.models import OmniRequest
from bot.records import (
    GuildSettings,
    InteractionToken,
    LedgerEntry,
    LibraryElement,
    LinkKind,
    NewTask,
    OverrideTarget,
    QueueEntry,
    QuotaCheck,
    QuotaOverride,
    QuotaTerms,
    QuotaWindow,
    StateFilter,
    TaskEvent,
    TaskRecord,
    TaskUpdate,
)


class TaskStore(Protocol):
    """Storage as the bot sees it; `SqliteStore` documents each operation."""

    async def close(self) -> None: ...
    async def integrity_check(self) -> str: ...

    # tasks
    async def create_task(
        self, new: NewTask, *, now: datetime, quota: QuotaCheck | QuotaTerms | None = None
    ) -> TaskRecord: ...
    async def transition(
        self,
        task_id: int,
        to: TaskState,
        *,
        now: datetime,
        expect: StateFilter | None = None,
        detail: str = "",
        **fields: Unpack[TaskUpdate],
    ) -> TaskRecord: ...
    async def requeue(
        self, task_id: int, *, not_before: datetime | None, now: datetime, detail: str = ""
    ) -> TaskRecord: ...
    async def replace_request(
        self, task_id: int, request: OmniRequest, *, now: datetime, detail: str
    ) -> TaskRecord: ...
    async def record_poll(
        self, task_id: int, *, now: datetime, progress_pct: int | None = None
    ) -> None: ...
    async def set_status_message(self, task_id: int, message_id: int) -> None: ...
    async def final_status_shown(self, task_id: int) -> None: ...
    async def save_interaction_token(self, task_id: int, token: InteractionToken) -> None: ...
    async def interaction_token(self, task_id: int) -> InteractionToken | None: ...
    async def final_status_pending(self) -> list[int]: ...
    async def cancel(
        self, task_id: int, *, by_user_id: int, refund_running: bool, now: datetime
    ) -> tuple[CancelStep, TaskRecord]: ...
    async def mark_result_deleted(
        self, task_id: int, *, by_user_id: int, now: datetime
    ) -> bool: ...
    async def link_message(self, message_id: int, task_id: int, kind: LinkKind) -> None: ...
    async def task_for_message(
        self, message_id: int, *, kind: LinkKind | None = None
    ) -> TaskRecord | None: ...
    async def get_task(self, task_id: int) -> TaskRecord: ...
    async def children_of(self, task_id: int, *, limit: int = 25) -> list[TaskRecord]: ...
    async def list_tasks(
        self,
        *,
        state: StateFilter | None = None,
        guild_id: int | None = None,
        user_id: int | None = None,
        limit: int = 20,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[TaskRecord]: ...
    async def render_times(
        self, model: str, mode: str, duration_s: int | None, *, limit: int = 20
    ) -> list[float]: ...
    async def tasks_in_states(self, states: Iterable[TaskState]) -> list[TaskRecord]: ...
    async def queue_entries(self) -> list[QueueEntry]: ...
    async def count_in_states(self, states: Iterable[TaskState]) -> int: ...
    async def task_events(self, task_id: int) -> list[TaskEvent]: ...

    # quota
    async def ledger_for_task(self, task_id: int) -> list[LedgerEntry]: ...
    async def credits_used(self, guild_id: int, user_id: int, since: datetime) -> int: ...
    async def in_flight(self, guild_id: int, user_id: int | None = None) -> int: ...
    async def reset_usage(
        self, guild_id: int, user_id: int, *, since: datetime, now: datetime
    ) -> int: ...
    async def set_override(
        self,
        guild_id: int,
        target_kind: OverrideTarget,
        target_id: int,
        *,
        limit: int | None,
        window: QuotaWindow | None = None,
        now: datetime,
    ) -> QuotaOverride: ...
    async def clear_override(
        self, guild_id: int, target_kind: OverrideTarget, target_id: int
    ) -> bool: ...
    async def list_overrides(self, guild_id: int) -> list[QuotaOverride]: ...
    async def get_guild_settings(self, guild_id: int) -> GuildSettings: ...
    async def server_usage(self, guild_id: int, since: datetime) -> int: ...

    # the element library
    async def add_element(self, element: LibraryElement) -> bool: ...
    async def remove_element(self, guild_id: int, name: str) -> LibraryElement | None: ...
    async def list_elements(self, guild_id: int) -> list[LibraryElement]: ...
    async def top_spenders(
        self, guild_id: int, since: datetime, *, limit: int = 5
    ) -> list[tuple[int, int]]: ...
    async def set_guild_settings(self, settings: GuildSettings, *, now: datetime) -> None: ...

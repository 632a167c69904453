"""A task record as the store would return it: #42 of USER in GUILD/CHANNEL, "a paper boat in
the rain", queued at CREATED; each test changes what it needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.lifecycle import TRANSITIONS, TaskState
from bot.domain.records import TaskRecord
from bot.domain.request import make_request

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GUILD, CHANNEL, USER = 111, 222, 333


def make_task(request: dict[str, Any] | None = None, **changes: Any) -> TaskRecord:
    task = TaskRecord(
        id=42,
        external_id="kob-test",
        origin="discord",
        rerun_of=None,
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        request=make_request(
            request or {"prompt": "a paper boat in the rain", "aspect_ratio": "16:9"}
        ),
        cost=1,
        state=TaskState.QUEUED,
        api_task_id=None,
        created_at=CREATED,
        updated_at=CREATED,
        queued_at=CREATED,
        submitted_at=None,
        finished_at=None,
        attempts=0,
        not_before=None,
        last_polled_at=None,
        poll_count=0,
        progress_pct=None,
        failure_reason=None,
        result_url=None,
        result_path=None,
        result_size_bytes=None,
        status_message_id=None,
        delivery_message_id=None,
    )
    return replace(task, **changes)


def path_to(target: TaskState) -> list[TaskState]:
    """The shortest legal path from QUEUED to `target` (QUEUED itself excluded)."""
    paths: dict[TaskState, list[TaskState]] = {TaskState.QUEUED: []}
    frontier = [TaskState.QUEUED]
    while frontier:
        state = frontier.pop(0)
        for following in sorted(TRANSITIONS[state]):
            if following not in paths:
                paths[following] = [*paths[state], following]
                frontier.append(following)
    return paths[target]

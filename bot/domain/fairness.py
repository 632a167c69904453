"""Which queued task goes to the API next: round-robin across members, oldest first within one.

Pure decisions, time passed in. One member's twenty tasks never starve the member who queued one:
the next slot goes to the member served least recently, and a member's own tasks leave in the
order they were asked for.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

MemberKey = Hashable


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queued task as the fair queue sees it."""

    task_id: int
    member: MemberKey  # who is charged: (guild_id, user_id), or a fixed key for the CLI
    queued_at: datetime
    not_before: datetime | None = None  # backing off after a 429 or a passing error


def is_ready(item: Waiting, now: datetime) -> bool:
    """True when the task is not backing off."""
    return item.not_before is None or item.not_before <= now


def choose_next(
    waiting: Iterable[Waiting],
    last_served: Mapping[MemberKey, int],
    now: datetime,
) -> Waiting | None:
    """The next task to submit, or None when nothing is ready.

    `last_served` maps a member to the turn number of their last submission (higher = more
    recent); members never served come first. Ties go to the member whose task waited longest.
    """
    oldest_per_member: dict[MemberKey, Waiting] = {}
    for item in waiting:
        if not is_ready(item, now):
            continue
        current = oldest_per_member.get(item.member)
        if current is None or (item.queued_at, item.task_id) < (current.queued_at, current.task_id):
            oldest_per_member[item.member] = item
    if not oldest_per_member:
        return None
    return min(
        oldest_per_member.values(),
        key=lambda item: (last_served.get(item.member, -1), item.queued_at, item.task_id),
    )


def next_wakeup(waiting: Iterable[Waiting], now: datetime) -> datetime | None:
    """When the earliest backing-off task becomes ready, if no task is ready now."""
    soonest: datetime | None = None
    for item in waiting:
        if is_ready(item, now):
            return now
        assert item.not_before is not None
        if soonest is None or item.not_before < soonest:
            soonest = item.not_before
    return soonest


def queue_positions(
    waiting: Iterable[Waiting], last_served: Mapping[MemberKey, int]
) -> dict[int, int]:
    """Each waiting task's 1-based place in the order the queue would serve them now.

    Replays `choose_next` with a heap of members: O(n log m) for n tasks of m members (it runs
    on the acknowledgement path of every `/video`, so it must stay cheap with thousands queued).
    """
    by_member: dict[MemberKey, list[Waiting]] = {}
    for item in waiting:
        by_member.setdefault(item.member, []).append(item)
    lines: list[deque[Waiting]] = []
    heap: list[tuple[int, datetime, int, int]] = []  # (last turn, oldest, task id, line index)
    for member, items in by_member.items():
        items.sort(key=lambda item: (item.queued_at, item.task_id))
        lines.append(deque(items))
        first = items[0]
        heap.append((last_served.get(member, -1), first.queued_at, first.task_id, len(lines) - 1))
    heapq.heapify(heap)
    turn = max(last_served.values(), default=0)
    positions: dict[int, int] = {}
    while heap:
        _, _, task_id, index = heapq.heappop(heap)
        line = lines[index]
        line.popleft()
        positions[task_id] = len(positions) + 1
        turn += 1
        if line:
            following = line[0]
            heapq.heappush(heap, (turn, following.queued_at, following.task_id, index))
    return positions

"""Which queued task goes to the API next: round-robin across members, oldest first within one.

Pure decisions, time passed in. One member's twenty tasks never starve the member who queued one:
the next slot goes to the member served least recently, and a member's own tasks leave in the
order they were asked for.
"""

from __future__ import annotations

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
    """Each waiting task's 1-based place in the order the queue would serve them now."""
    by_member: dict[MemberKey, list[Waiting]] = {}
    for item in waiting:
        by_member.setdefault(item.member, []).append(item)
    for items in by_member.values():
        items.sort(key=lambda item: (item.queued_at, item.task_id))
    served = dict(last_served)
    turn = max(served.values(), default=0)
    positions: dict[int, int] = {}
    place = 0
    while by_member:
        member = min(
            by_member,
            key=lambda m: (served.get(m, -1), by_member[m][0].queued_at, by_member[m][0].task_id),
        )
        item = by_member[member].pop(0)
        place += 1
        positions[item.task_id] = place
        turn += 1
        served[member] = turn
        if not by_member[member]:
            del by_member[member]
    return positions

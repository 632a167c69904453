"""The fair queue: round-robin across members, oldest first within a member, backoff honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.fairness import Waiting, choose_next, next_wakeup, queue_positions

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def drain(waiting: list[Waiting], now: datetime) -> list[int]:
    """Serve everything the way the submitter would, returning the task ids in order."""
    order: list[int] = []
    served: dict[object, int] = {}
    pending = list(waiting)
    turn = 0
    while (item := choose_next(pending, served, now)) is not None:
        order.append(item.task_id)
        turn += 1
        served[item.member] = turn
        pending.remove(item)
    return order


def test_one_member_with_twenty_tasks_does_not_starve_the_others() -> None:
    heavy = [Waiting(i, "alice", at(i)) for i in range(1, 21)]
    light = [Waiting(100, "bob", at(30)), Waiting(101, "carol", at(31))]
    order = drain(heavy + light, at(60))
    assert order[:4] == [1, 100, 101, 2]  # bob and carol wait at most one turn
    assert order[4:] == list(range(3, 21))


def test_within_a_member_oldest_first() -> None:
    items = [Waiting(3, "a", at(3)), Waiting(1, "a", at(1)), Waiting(2, "a", at(2))]
    assert drain(items, at(10)) == [1, 2, 3]


def test_members_never_served_go_before_recently_served() -> None:
    items = [Waiting(1, "a", at(1)), Waiting(2, "b", at(2))]
    assert choose_next(items, {"a": 5}, at(10)) == items[1]
    assert choose_next(items, {"a": 5, "b": 6}, at(10)) == items[0]


def test_backing_off_tasks_wait_and_wake_up_on_time() -> None:
    items = [Waiting(1, "a", at(1), not_before=at(50)), Waiting(2, "b", at(2), not_before=at(40))]
    assert choose_next(items, {}, at(10)) is None
    assert next_wakeup(items, at(10)) == at(40)
    assert choose_next(items, {}, at(45)) == items[1]
    assert next_wakeup(items, at(45)) == at(45)
    assert next_wakeup([], at(45)) is None


def test_queue_positions_match_the_serving_order() -> None:
    items = [Waiting(i, "alice", at(i)) for i in range(1, 6)] + [Waiting(9, "bob", at(9))]
    positions = queue_positions(items, {})
    order = drain(items, at(100))
    assert [positions[task_id] for task_id in order] == list(range(1, len(items) + 1))


def test_queue_positions_agree_with_serving_on_random_queues() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        members = [f"m{i}" for i in range(rng.randint(1, 12))]
        items = [
            Waiting(i, rng.choice(members), at(rng.randint(0, 50)))
            for i in range(rng.randint(1, 60))
        ]
        served = {m: rng.randint(0, 5) for m in members if rng.random() < 0.5}
        positions = queue_positions(items, served)
        order: list[int] = []
        state = dict(served)
        turn = max(state.values(), default=0)
        pending = list(items)
        while (item := choose_next(pending, state, at(100))) is not None:
            order.append(item.task_id)
            turn += 1
            state[item.member] = turn
            pending.remove(item)
        assert [positions[task_id] for task_id in order] == list(range(1, len(items) + 1))

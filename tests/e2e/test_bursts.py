"""A burst of commands in one channel, through the real discord.py client against the strict fake.

Status edits stay within the edit budget Discord announces for the channel, and a final state is
never stuck behind queue-position edits; an interaction replayed long after it was made (a long
gateway outage) is skipped without charging anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, InteractionHandle
from bot.fakes.discord.messages import Message
from bot.fakes.discord.ratelimits import DISCORD_RULES, BucketRule, RateLimits
from bot.fakes.discord.recording import RequestRecord

SETTLE_S = 60  # a guard against hangs, not a speed assertion
EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"
BURST = 40
LIFTED = {
    "quotas": {
        "default_limit": "unlimited",
        "max_in_flight_per_member": 100,
        "max_in_flight_per_server": 1000,
    },
    "omni": {"max_concurrent_tasks": 1},
}


async def until(check: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


def status_field(message: Message) -> str:
    fields = message.embeds[0]["fields"] if message.embeds else []
    return str(next((f["value"] for f in fields if f["name"] == "Status"), ""))


async def burst(fake: FakeDiscord, count: int) -> list[InteractionHandle]:
    members = [fake.add_member(f"member-{n}") for n in range(8)]
    handles = [
        await fake.member(members[n % len(members)]).run("video", prompt=f"a paper boat #{n}")
        for n in range(count)
    ]
    for handle in handles:
        await handle.wait_ack(SETTLE_S)
    return handles


def edits_in(fake: FakeDiscord, channel_id: int) -> list[RequestRecord]:
    return [
        r
        for r in fake.requests("PATCH", EDIT_ROUTE)
        if r.path.split("/channels/")[1].startswith(f"{channel_id}/")
    ]


def most_in_any_window(records: list[RequestRecord], window_s: float) -> int:
    times = [r.at for r in records]
    return max(
        (sum(1 for t in times if start <= t < start + window_s) for start in times), default=0
    )


@pytest.mark.parametrize("bot_config", [LIFTED])
async def test_a_burst_in_one_channel_is_paced_and_a_final_state_is_not_stuck_behind_positions(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    bot_config: dict[str, Any],
) -> None:
    fake_comet.set_timings(processing_s=float("inf"))  # the queue only grows
    general = fake_discord.default.general
    handles = await burst(fake_discord, BURST)
    statuses = [h.original for h in handles]
    assert all(s is not None and not s.is_ephemeral for s in statuses)
    # Queue positions are coming, paced: wait for the first one shown (and the first task sent).
    await until(
        lambda: (
            bool(fake_comet.accepted_creates())
            and any("position" in status_field(s) for s in statuses if s)
        )
    )
    # Now the task at the API succeeds: its final state must not wait behind 40 position edits.
    (first,) = fake_comet.accepted_creates()
    assert first.task_id is not None
    fake_comet.finish(first.task_id, "succeed")
    store = kling_bot.services.store

    async def delivered() -> int:
        while True:
            (task,) = await store.list_tasks(state=TaskState.DELIVERED, limit=1) or [None]
            if task is not None and task.status_message_id is not None:
                message = fake_discord.message(task.status_message_id)
                if status_field(message).startswith("Done"):
                    return task.status_message_id
            await asyncio.sleep(0.05)

    done_id = await asyncio.wait_for(delivered(), SETTLE_S)
    edits = edits_in(fake_discord, general.id)
    final = next(i for i, r in enumerate(edits) if r.path.endswith(f"/{done_id}"))
    assert final < 15, f"the final state was edit #{final + 1} in the channel"
    # Never beyond what Discord announced (5 edits per 5 s here), never a 429.
    assert most_in_any_window(edits, 5.0) <= 5
    assert all(r.status != 429 for r in fake_discord.requests())
    # The burst itself answered 40 commands with the answers alone.
    first_answer = min(r.at for r in fake_discord.requests("POST") if "/callback" in r.path)
    assert sum(1 for r in edits if r.at < first_answer + 1.0) <= 5


@pytest.mark.parametrize("bot_config", [LIFTED])
async def test_the_edit_budget_is_the_one_the_channel_announces(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    bot_config: dict[str, Any],
) -> None:
    rules = dict(DISCORD_RULES)
    rules[("PATCH", EDIT_ROUTE)] = BucketRule("tight-edits", 2, 3.0)
    fake_discord.rate_limits = RateLimits(rules=rules)
    fake_comet.set_timings(processing_s=float("inf"))
    general = fake_discord.default.general
    handles = await burst(fake_discord, 12)
    statuses = [h.original for h in handles]
    await until(lambda: sum("position" in status_field(s) for s in statuses if s) >= 2)
    budget = kling_bot.edit_pacer.budget(general.id)
    assert budget.limit == 2 and 2.5 <= budget.window_s <= 3.0
    edits = edits_in(fake_discord, general.id)
    assert most_in_any_window(edits, 3.0) <= 2
    assert all(r.status != 429 for r in edits)


async def test_an_interaction_replayed_after_an_outage_is_skipped_without_charging(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_comet.set_timings(processing_s=float("inf"))
    alice = fake_discord.member(fake_discord.default.alice)
    # Made a minute ago, delivered only now (the gateway was down meanwhile).
    stale = await alice.run("video", prompt="a boat from before the outage", backdate_s=60)
    fresh = await alice.run("video", prompt="a boat from now")
    await fresh.wait_ack(SETTLE_S)
    store = kling_bot.services.store
    (task,) = await store.list_tasks()
    assert task.request.prompt == "a boat from now"
    assert stale.ack is None and stale.errors == []  # no answer was even tried
    ledger = await store.ledger_for_task(task.id)
    assert [e.kind for e in ledger] == ["charge"]

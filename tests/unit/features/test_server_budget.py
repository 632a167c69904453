"""The whole server's budget: resolved from the server's setting or the config, charged in the
member's own transaction (fifty members at once never overspend it), refunded the same way, not
forgiven by a member's reset; and its meter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.errors import NotModerator, QuotaExceeded
from bot.domain.lifecycle import TaskState
from bot.domain.moderation import MANAGE_GUILD, MemberFacts
from bot.domain.quota import resolve_server_limit
from bot.domain.records import GuildSettings, NewTask, QuotaTerms
from bot.domain.request import OmniRequest
from bot.features.quotas import QuotaService
from bot.features.render_quotas import server_budget_view
from bot.settings import QuotaSettings
from bot.store.sql_store import SqlStore

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
TODAY = datetime(2025, 1, 15, tzinfo=UTC)
GUILD = 10
REQUEST = OmniRequest(prompt="a lighthouse in a storm", aspect_ratio="9:16")
MOD = MemberFacts(1, MANAGE_GUILD)
MEMBER = MemberFacts(2, 0)


def task_of(user_id: int, cost: int = 1) -> NewTask:
    return NewTask("discord", REQUEST, cost, guild_id=GUILD, channel_id=20, user_id=user_id)


def terms(server_limit: int | None) -> QuotaTerms:
    return QuotaTerms(config_limit=None, config_window="day", config_server_limit=server_limit)


def test_the_servers_setting_beats_the_config_and_has_its_own_window() -> None:
    assert resolve_server_limit(config_limit=None, config_window="day", guild=None).limit is None
    config = resolve_server_limit(config_limit=50, config_window="week", guild=GuildSettings(1))
    assert (config.limit, config.window, config.source) == (50, "week", "config")
    own = GuildSettings(1, window="week", server_limit=20, server_window="month")
    resolved = resolve_server_limit(config_limit=50, config_window="day", guild=own)
    assert (resolved.limit, resolved.window, resolved.source) == (20, "month", "server")
    unlimited = GuildSettings(1, window="week", server_limit="unlimited")
    resolved = resolve_server_limit(config_limit=50, config_window="day", guild=unlimited)
    assert (resolved.limit, resolved.window) == (None, "week")


@pytest.mark.parametrize("connections", [1, 2], ids=["one store", "two stores"])
async def test_fifty_members_at_once_never_overspend_the_server(
    store_location: Path | str, connections: int
) -> None:
    stores = [await SqlStore.open(store_location) for _ in range(connections)]
    try:
        results = await asyncio.gather(
            *(
                stores[i % connections].create_task(task_of(100 + i), now=NOW, quota=terms(7))
                for i in range(50)
            ),
            return_exceptions=True,
        )
        created = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(created), len(refused)) == (7, 43)
        assert await stores[0].server_usage(GUILD, TODAY) == 7
    finally:
        for opened in stores:
            await opened.close()


async def test_the_refusal_names_cost_balance_and_reset(store: SqlStore) -> None:
    await store.create_task(task_of(3, cost=2), now=NOW, quota=terms(3))
    with pytest.raises(QuotaExceeded) as refused:
        await store.create_task(task_of(4, cost=2), now=NOW, quota=terms(3))
    assert refused.value.member_message == (
        "This video costs 2 credits and the server has 1 left: it has used 2 of its 3 credits "
        "today. The server's budget resets <t:1736985600:R> (2025-01-16 00:00 UTC)."
    )
    with pytest.raises(QuotaExceeded, match="budget is 0 credits"):
        await store.create_task(task_of(4), now=NOW, quota=terms(0))


async def test_a_refund_gives_the_server_its_credit_back_and_a_reset_does_not(
    store: SqlStore,
) -> None:
    first = await store.create_task(task_of(3), now=NOW, quota=terms(2))
    second = await store.create_task(task_of(3), now=NOW, quota=terms(2))
    await store.transition(first.id, TaskState.REJECTED, now=NOW)  # refunded
    assert await store.server_usage(GUILD, TODAY) == 1
    await store.transition(second.id, TaskState.SUBMITTING, now=NOW)
    await store.transition(second.id, TaskState.FAILED, now=NOW)
    third = await store.create_task(task_of(3), now=NOW, quota=terms(2))
    for state in ("submitting", "submitted", "succeeded", "delivering", "delivered"):
        await store.transition(third.id, TaskState(state), now=NOW)
    await store.reset_usage(GUILD, 3, since=TODAY, now=NOW)
    assert await store.credits_used(GUILD, 3, TODAY) == 0  # the member's quota is forgiven
    assert await store.server_usage(GUILD, TODAY) == 1  # the server's bill is not


async def test_the_meter_sets_and_shows_the_budget_and_who_spent_most(store: SqlStore) -> None:
    quotas = QuotaSettings(server_limit=10)
    service = QuotaService(store, quotas, clock=lambda: NOW)
    config_terms = QuotaTerms(config_limit=None, config_window="day", config_server_limit=10)
    for user, cost in ((5, 1), (6, 3), (5, 1)):
        await store.create_task(task_of(user, cost=cost), now=NOW, quota=config_terms)
    meter = await service.server_budget(GUILD, MEMBER)
    assert (meter.limit, meter.used, meter.remaining, meter.source) == (10, 5, 5, "config")
    assert meter.top == ()  # who spent what is for moderators
    with pytest.raises(NotModerator):
        await service.server_budget(GUILD, MEMBER, limit=100)
    meter = await service.server_budget(GUILD, MOD, limit=6, window="week")
    assert (meter.limit, meter.window, meter.source, meter.top) == (
        6,
        "week",
        "server",
        ((6, 3), (5, 2)),
    )
    view = server_budget_view(meter)
    assert view.description == "This server has used **5 of 6 credits** this week: **1 left**."
    fields = {f.name: f.value for f in view.fields}
    assert fields["Most used this week"] == "<@6> — 3 credits\n<@5> — 2 credits"
    meter = await service.server_budget(GUILD, MOD, limit=-1)
    assert (meter.limit, meter.window) == (None, "week")
    assert "There's no budget for the whole server" in server_budget_view(meter).description

"""The store's quota side on real files: charges under races, caps, refunds, resets, settings."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import QuotaExceeded
from bot.domain.lifecycle import TaskState
from bot.domain.records import GuildSettings, NewTask, QuotaCheck, QuotaTerms
from bot.domain.request import OmniRequest
from bot.store.migrate import load_migrations
from bot.store.sql_store import SqlStore

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
TODAY = datetime(2025, 1, 15, tzinfo=UTC)
TOMORROW = TODAY + timedelta(days=1)
REQUEST = OmniRequest(prompt="a lighthouse in a storm", aspect_ratio="9:16")
GUILD, CHANNEL, MEMBER = 10, 20, 30


def member_task(user_id: int = MEMBER, *, cost: int = 1) -> NewTask:
    return NewTask("discord", REQUEST, cost, guild_id=GUILD, channel_id=CHANNEL, user_id=user_id)


def daily(limit: int | None, *, start: datetime = TODAY, **caps: int | None) -> QuotaCheck:
    return QuotaCheck(
        limit=limit,
        window="day",
        window_start=start,
        resets_at=start + timedelta(days=1),
        **caps,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "quota.sqlite3"


async def finish(store: SqlStore, task_id: int, *, refunded: bool) -> None:
    """End a task either with a video (kept charge) or with a failure (refund)."""
    await store.transition(task_id, S.SUBMITTING, now=NOW)
    if refunded:
        await store.transition(task_id, S.REJECTED, now=NOW)
        return
    for state in (S.SUBMITTED, S.SUCCEEDED, S.DELIVERING, S.DELIVERED):
        await store.transition(task_id, state, now=NOW)


# -- the race --------------------------------------------------------------------------------------


@pytest.mark.parametrize("connections", [1, 3], ids=["one store", "three stores"])
async def test_fifty_simultaneous_commands_never_overspend(
    store_location: Path | str, connections: int
) -> None:
    stores = [await SqlStore.open(store_location) for _ in range(connections)]
    try:
        results = await asyncio.gather(
            *(
                stores[i % connections].create_task(member_task(), now=NOW, quota=daily(5))
                for i in range(50)
            ),
            return_exceptions=True,
        )
        created = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(created), len(refused)) == (5, 45)
        store = stores[0]
        assert await store.credits_used(GUILD, MEMBER, TODAY) == 5
        assert await store.count_in_states(TaskState) == 5
        for task in created:
            assert [e.kind for e in await store.ledger_for_task(task.id)] == ["charge"]
        assert await store.integrity_check() == "ok"
    finally:
        for opened in stores:
            await opened.close()


# -- limits resolved at charge time ---------------------------------------------------------------

ARTISTS = 40  # a role id


def terms(*role_ids: int, config_limit: int | None = 5, **caps: int | None) -> QuotaTerms:
    return QuotaTerms(config_limit=config_limit, config_window="day", role_ids=role_ids, **caps)


async def test_terms_are_resolved_from_the_overrides_stored_at_the_charge(
    store_location: Path | str,
) -> None:
    store, moderator = await SqlStore.open(store_location), await SqlStore.open(store_location)
    try:
        await store.create_task(member_task(), now=NOW, quota=terms())  # the config's 5
        # A moderator (another connection: another command, or another process) blocks her:
        await moderator.set_override(GUILD, "member", MEMBER, limit=0, now=NOW)
        with pytest.raises(QuotaExceeded, match="set your quota to 0 credits"):
            await store.create_task(member_task(), now=NOW, quota=terms())
        await moderator.set_override(GUILD, "role", ARTISTS, limit=2, now=NOW)
        await moderator.clear_override(GUILD, "member", MEMBER)
        await store.create_task(member_task(), now=NOW, quota=terms(ARTISTS))  # 2 of 2
        with pytest.raises(QuotaExceeded, match="used 2 of your 2 credits today"):
            await store.create_task(member_task(), now=NOW, quota=terms(ARTISTS))
        # Without the role, the server's own default applies, in the server's window.
        await moderator.set_guild_settings(
            GuildSettings(GUILD, default_limit=3, window="week"), now=NOW
        )
        await store.create_task(member_task(), now=NOW, quota=terms())  # 3 of 3 this week
        with pytest.raises(QuotaExceeded, match="used 3 of your 3 credits this week"):
            await store.create_task(member_task(), now=NOW, quota=terms())
    finally:
        await store.close()
        await moderator.close()


async def test_terms_carry_the_in_flight_caps(store: SqlStore) -> None:
    await store.create_task(member_task(), now=NOW, quota=terms(max_in_flight_per_member=1))
    with pytest.raises(QuotaExceeded, match="a member may have 1 at once"):
        await store.create_task(member_task(), now=NOW, quota=terms(max_in_flight_per_member=1))


# -- credits ---------------------------------------------------------------------------------------


async def test_the_refusal_says_what_was_used_and_when_it_resets(store: SqlStore) -> None:
    for _ in range(3):
        await store.create_task(member_task(), now=NOW, quota=daily(4))
    with pytest.raises(QuotaExceeded) as refused:
        await store.create_task(member_task(cost=2), now=NOW, quota=daily(4))
    assert refused.value.member_message == (
        "This video costs 2 credits and you have 1 left: you have used 3 of your 4 credits "
        "today. Your quota resets <t:1736985600:R> (2025-01-16 00:00 UTC)."
    )
    # One credit is still there for a cheaper video.
    await store.create_task(member_task(cost=1), now=NOW, quota=daily(4))


async def test_a_video_dearer_than_the_whole_quota(store: SqlStore) -> None:
    weekly = QuotaCheck(limit=3, window="week", window_start=TODAY, resets_at=TOMORROW)
    with pytest.raises(
        QuotaExceeded, match="costs 4 credits, more than your whole quota of 3 credits a week"
    ):
        await store.create_task(member_task(cost=4), now=NOW, quota=weekly)


async def test_zero_blocks_and_none_is_unlimited(store: SqlStore) -> None:
    with pytest.raises(QuotaExceeded, match="set your quota to 0 credits"):
        await store.create_task(member_task(cost=0), now=NOW, quota=daily(0))
    for _ in range(30):
        await store.create_task(member_task(), now=NOW, quota=daily(None))
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 30


async def test_members_and_servers_have_their_own_credits(store: SqlStore) -> None:
    await store.create_task(member_task(), now=NOW, quota=daily(1))
    await store.create_task(member_task(user_id=31), now=NOW, quota=daily(1))
    other_guild = NewTask("discord", REQUEST, 1, guild_id=11, channel_id=21, user_id=MEMBER)
    await store.create_task(other_guild, now=NOW, quota=daily(1))
    with pytest.raises(QuotaExceeded):
        await store.create_task(member_task(), now=NOW, quota=daily(1))


async def test_a_refund_gives_the_credit_back(store: SqlStore) -> None:
    task = await store.create_task(member_task(), now=NOW, quota=daily(1))
    await finish(store, task.id, refunded=True)
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 0
    await store.create_task(member_task(), now=NOW, quota=daily(1))


async def test_use_before_the_window_does_not_count(store: SqlStore) -> None:
    yesterday = NOW - timedelta(days=1)
    await store.create_task(
        member_task(), now=yesterday, quota=daily(1, start=TODAY - timedelta(days=1))
    )
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 0
    await store.create_task(member_task(), now=NOW, quota=daily(1))


async def test_a_refund_counts_in_the_window_of_its_charge(store: SqlStore) -> None:
    """Charged at 23:59 yesterday, failed at 00:01 today: today's use must not go below zero."""
    yesterday = TODAY - timedelta(minutes=1)
    task = await store.create_task(
        member_task(), now=yesterday, quota=daily(1, start=TODAY - timedelta(days=1))
    )
    await store.transition(task.id, S.FAILED, now=TODAY + timedelta(minutes=1))
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 0
    assert await store.credits_used(GUILD, MEMBER, TODAY - timedelta(days=1)) == 0
    await store.create_task(member_task(), now=NOW, quota=daily(1))
    with pytest.raises(QuotaExceeded):
        await store.create_task(member_task(), now=NOW, quota=daily(1))


# -- in-flight caps --------------------------------------------------------------------------------


async def test_member_in_flight_cap(store: SqlStore) -> None:
    capped = daily(None, max_in_flight_per_member=2)
    first = await store.create_task(member_task(), now=NOW, quota=capped)
    await store.create_task(member_task(), now=NOW, quota=capped)
    with pytest.raises(QuotaExceeded, match="You already have 2 videos in progress"):
        await store.create_task(member_task(), now=NOW, quota=capped)
    await store.create_task(member_task(user_id=31), now=NOW, quota=capped)  # others are free
    await finish(store, first.id, refunded=False)
    assert await store.in_flight(GUILD, MEMBER) == 1
    await store.create_task(member_task(), now=NOW, quota=capped)


async def test_server_in_flight_cap(store: SqlStore) -> None:
    capped = daily(None, max_in_flight_per_server=3)
    for user in (31, 32, 33):
        await store.create_task(member_task(user_id=user), now=NOW, quota=capped)
    assert await store.in_flight(GUILD) == 3
    with pytest.raises(QuotaExceeded, match="This server already has 3 videos in progress"):
        await store.create_task(member_task(user_id=34), now=NOW, quota=capped)


async def test_in_flight_caps_hold_under_a_race(store_location: Path | str) -> None:
    first, second = await SqlStore.open(store_location), await SqlStore.open(store_location)
    capped = daily(None, max_in_flight_per_member=2, max_in_flight_per_server=3)
    try:
        results = await asyncio.gather(
            *(
                (first, second)[i % 2].create_task(
                    member_task(user_id=30 + i % 4), now=NOW, quota=capped
                )
                for i in range(40)
            ),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 3
        assert await first.in_flight(GUILD) == 3
    finally:
        await first.close()
        await second.close()


# -- reset -----------------------------------------------------------------------------------------


async def test_reset_forgives_finished_use_but_keeps_running_tasks_reserved(
    store: SqlStore,
) -> None:
    done = [await store.create_task(member_task(), now=NOW, quota=daily(5)) for _ in range(3)]
    running = [await store.create_task(member_task(), now=NOW, quota=daily(5)) for _ in range(2)]
    for task in done:
        await finish(store, task.id, refunded=False)
    assert await store.reset_usage(GUILD, MEMBER, since=TODAY, now=NOW) == 3
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 2  # the two still running
    assert await store.reset_usage(GUILD, MEMBER, since=TODAY, now=NOW) == 0  # nothing more
    # The running tasks end one each way: use never goes below zero.
    await finish(store, running[0].id, refunded=True)
    await finish(store, running[1].id, refunded=False)
    assert await store.credits_used(GUILD, MEMBER, TODAY) == 1
    for _ in range(4):
        await store.create_task(member_task(), now=NOW, quota=daily(5))
    with pytest.raises(QuotaExceeded):
        await store.create_task(member_task(), now=NOW, quota=daily(5))


async def test_reset_touches_only_that_member_and_window(store: SqlStore) -> None:
    earlier = await store.create_task(
        member_task(), now=NOW - timedelta(days=1), quota=daily(5, start=TODAY - timedelta(days=1))
    )
    other = await store.create_task(member_task(user_id=31), now=NOW, quota=daily(5))
    for task in (earlier, other):
        await finish(store, task.id, refunded=False)
    assert await store.reset_usage(GUILD, MEMBER, since=TODAY, now=NOW) == 0
    assert await store.credits_used(GUILD, MEMBER, TODAY - timedelta(days=1)) == 1
    assert await store.credits_used(GUILD, 31, TODAY) == 1
    with pytest.raises(ValueError, match="since must be"):
        await store.reset_usage(GUILD, MEMBER, since=NOW, now=TODAY)


# -- overrides and settings ------------------------------------------------------------------------


async def test_overrides_can_be_set_replaced_listed_and_cleared(store: SqlStore) -> None:
    assert await store.list_overrides(GUILD) == []
    await store.set_override(GUILD, "role", 500, limit=10, window="week", now=NOW)
    await store.set_override(GUILD, "member", MEMBER, limit=0, now=NOW)
    await store.set_override(GUILD, "member", 31, limit=None, now=NOW)  # unlimited
    await store.set_override(11, "member", MEMBER, limit=7, now=NOW)
    replaced = await store.set_override(
        GUILD, "member", MEMBER, limit=3, now=NOW + timedelta(hours=1)
    )
    overrides = await store.list_overrides(GUILD)
    assert overrides[0] == replaced
    assert [(o.target_kind, o.target_id, o.limit, o.window) for o in overrides] == [
        ("member", MEMBER, 3, None),
        ("member", 31, None, None),
        ("role", 500, 10, "week"),
    ]
    assert overrides[0].updated_at == NOW + timedelta(hours=1)
    assert await store.clear_override(GUILD, "role", 500) is True
    assert await store.clear_override(GUILD, "role", 500) is False
    assert len(await store.list_overrides(GUILD)) == 2
    with pytest.raises(ValueError, match="negative"):
        await store.set_override(GUILD, "member", MEMBER, limit=-1, now=NOW)


async def test_guild_settings(store: SqlStore) -> None:
    assert await store.get_guild_settings(GUILD) == GuildSettings(GUILD)
    settings = GuildSettings(GUILD, default_limit=3, window="month", moderator_role_ids=(7, 8))
    await store.set_guild_settings(settings, now=NOW)
    assert await store.get_guild_settings(GUILD) == settings
    await store.set_guild_settings(GuildSettings(GUILD, default_limit=None), now=NOW)
    assert await store.get_guild_settings(GUILD) == GuildSettings(GUILD)
    assert await store.get_guild_settings(11) == GuildSettings(11)
    with pytest.raises(ValueError, match="negative"):
        await store.set_guild_settings(GuildSettings(GUILD, default_limit=-2), now=NOW)


async def test_a_server_default_can_be_unlimited(store: SqlStore) -> None:
    await store.set_guild_settings(GuildSettings(GUILD, default_limit="unlimited"), now=NOW)
    assert (await store.get_guild_settings(GUILD)).default_limit == "unlimited"
    await store.set_guild_settings(GuildSettings(GUILD, default_limit=2), now=NOW)
    assert (await store.get_guild_settings(GUILD)).default_limit == 2


async def test_a_version_1_database_is_upgraded_and_keeps_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    first = load_migrations()[0]
    with sqlite3.connect(path) as db:  # a database written by the first release
        db.executescript(first.sql)
        db.execute(
            "INSERT INTO guild_settings (guild_id, default_limit, quota_window, "
            "moderator_role_ids, updated_at) "
            "VALUES (?, 3, 'week', '[]', '2025-01-01T00:00:00.000000Z')",
            (GUILD,),
        )
        db.execute("PRAGMA user_version = 1")
    store = await SqlStore.open(path)
    try:
        settings = await store.get_guild_settings(GUILD)
        assert (settings.default_limit, settings.window) == (3, "week")
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()

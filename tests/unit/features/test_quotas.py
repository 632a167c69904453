"""The `/quota` use cases on a real SQLite store: who may do what, and what each one reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import InvalidInput, NotModerator
from bot.domain.lifecycle import TaskState
from bot.domain.moderation import ADMINISTRATOR, MANAGE_GUILD, MemberFacts, is_moderator
from bot.domain.quota import ResolvedLimit
from bot.domain.records import GuildSettings, NewTask, QuotaCheck, QuotaOverride
from bot.domain.request import OmniRequest
from bot.features.quota_records import LimitTarget, MemberRef
from bot.features.quotas import QuotaService, deciding_role, parse_limit
from bot.settings import QuotaSettings
from bot.store.sql_store import SqlStore

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)  # a Wednesday
TODAY = datetime(2025, 1, 15, tzinfo=UTC)
TOMORROW = TODAY + timedelta(days=1)
GUILD, OTHER_GUILD, CHANNEL = 10, 11, 20
ALICE, BOB, MOD = 30, 31, 32
HELPERS, ARTISTS, PATRONS = 40, 41, 42  # role ids
REQUEST = OmniRequest(prompt="a lighthouse in a storm", aspect_ratio="9:16")

alice = MemberFacts(ALICE, 0)
bob = MemberFacts(BOB, 0)
manager = MemberFacts(MOD, MANAGE_GUILD)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(tmp_path / "quota.sqlite3")
    yield opened
    await opened.close()


def service_on(store: SqlStore, **quotas: object) -> QuotaService:
    settings = QuotaSettings.model_validate({"default_limit": 5, **quotas})
    return QuotaService(store, settings, clock=lambda: NOW)


@pytest.fixture
def service(store: SqlStore) -> QuotaService:
    return service_on(store)


async def charge(store: SqlStore, user_id: int, *, finish: bool = True, cost: int = 1) -> int:
    """A task of `user_id` charged today; delivered (a kept charge) unless `finish` is False."""
    new = NewTask("discord", REQUEST, cost, guild_id=GUILD, channel_id=CHANNEL, user_id=user_id)
    check = QuotaCheck(limit=None, window="day", window_start=TODAY, resets_at=TOMORROW)
    task = await store.create_task(new, now=NOW, quota=check)
    if finish:
        for state in (S.SUBMITTING, S.SUBMITTED, S.SUCCEEDED, S.DELIVERING, S.DELIVERED):
            await store.transition(task.id, state, now=NOW)
    return task.id


# -- the `limit` option ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "limit"), [(-1, None), (0, 0), (3, 3), (100_000, 100_000)])
def test_the_limit_option_reads_minus_one_as_unlimited(value: int, limit: int | None) -> None:
    assert parse_limit(value) == limit


@pytest.mark.parametrize("value", [-2, 100_001])
def test_a_limit_out_of_range_is_refused_with_what_is_allowed(value: int) -> None:
    with pytest.raises(InvalidInput, match="-1 for no limit"):
        parse_limit(value)


# -- /quota show -----------------------------------------------------------------------------


async def test_a_member_sees_their_own_quota(store: SqlStore, service: QuotaService) -> None:
    await charge(store, ALICE)
    await charge(store, ALICE, finish=False)
    status = await service.show(GUILD, alice)
    assert (status.user_id, status.limit, status.window, status.source) == (
        ALICE,
        5,
        "day",
        "config",
    )
    assert (status.used, status.remaining) == (2, 3)
    assert (status.window_start, status.resets_at) == (TODAY, TOMORROW)
    assert (status.in_flight, status.max_in_flight) == (1, 2)


async def test_a_refunded_video_does_not_count(store: SqlStore, service: QuotaService) -> None:
    task_id = await charge(store, ALICE, finish=False)
    await store.transition(task_id, S.REJECTED, now=NOW)
    status = await service.show(GUILD, alice)
    assert (status.used, status.in_flight) == (0, 0)


async def test_a_member_may_not_see_another_members_quota(service: QuotaService) -> None:
    with pytest.raises(NotModerator, match="see another member's quota"):
        await service.show(GUILD, alice, MemberRef(BOB))


async def test_a_moderator_sees_anyones_quota(store: SqlStore, service: QuotaService) -> None:
    await charge(store, BOB)
    status = await service.show(GUILD, manager, MemberRef(BOB))
    assert (status.user_id, status.used) == (BOB, 1)


async def test_asking_for_oneself_by_name_needs_no_rights(service: QuotaService) -> None:
    status = await service.show(GUILD, alice, MemberRef(ALICE))
    assert status.user_id == ALICE


# -- /quota set and where a limit comes from ----------------------------------------------------


async def test_a_member_cannot_set_limits_and_nothing_is_stored(
    store: SqlStore, service: QuotaService
) -> None:
    with pytest.raises(NotModerator, match="Only moderators can set quotas"):
        await service.set_limit(GUILD, alice, LimitTarget("member", ALICE), None)
    assert await store.list_overrides(GUILD) == []


async def test_a_member_override_wins(store: SqlStore, service: QuotaService) -> None:
    await service.set_limit(GUILD, manager, LimitTarget("role", HELPERS), 50)
    change = await service.set_limit(GUILD, manager, LimitTarget("member", ALICE), 1, "week")
    assert (change.target, change.window, change.override.limit) == (
        LimitTarget("member", ALICE),
        "week",
        1,
    )
    status = await service.show(GUILD, alice, MemberRef(ALICE, (HELPERS,)))
    assert (status.limit, status.window, status.source, status.source_role_id) == (
        1,
        "week",
        "member",
        None,
    )
    assert status.window_start == datetime(2025, 1, 13, tzinfo=UTC)  # that week's Monday


async def test_a_role_override_names_its_role(store: SqlStore, service: QuotaService) -> None:
    await service.set_limit(GUILD, manager, LimitTarget("role", ARTISTS), 3)
    await service.set_limit(GUILD, manager, LimitTarget("role", PATRONS), 20)
    status = await service.show(GUILD, alice, MemberRef(ALICE, (ARTISTS, PATRONS)))
    assert (status.limit, status.source, status.source_role_id) == (20, "role", PATRONS)


async def test_an_override_without_a_window_follows_the_servers(
    store: SqlStore, service: QuotaService
) -> None:
    await service.set_default(GUILD, manager, 10, "month")
    change = await service.set_limit(GUILD, manager, LimitTarget("member", ALICE), None)
    assert (change.override.limit, change.override.window, change.window) == (None, None, "month")
    status = await service.show(GUILD, alice)
    assert (status.limit, status.remaining, status.window) == (None, None, "month")


async def test_a_negative_limit_is_member_input_not_a_crash(service: QuotaService) -> None:
    with pytest.raises(InvalidInput):
        await service.set_limit(GUILD, manager, LimitTarget("member", ALICE), -5)


async def test_overrides_stay_in_their_server(store: SqlStore, service: QuotaService) -> None:
    await service.set_limit(OTHER_GUILD, manager, LimitTarget("member", ALICE), 0)
    assert (await service.show(GUILD, alice)).limit == 5


# -- who is a moderator ------------------------------------------------------------------------


async def test_only_administrators_name_moderator_roles(store: SqlStore) -> None:
    service = service_on(store, moderator_roles=["Helpers"])
    admin = MemberFacts(1, ADMINISTRATOR)
    with pytest.raises(NotModerator, match="Only administrators"):
        await service.add_moderator_role(GUILD, MemberFacts(2, MANAGE_GUILD), 77)
    added = await service.add_moderator_role(GUILD, admin, 77)
    assert (added.role_ids, added.config_roles, added.changed) == ((77,), ("Helpers",), True)
    assert not (await service.add_moderator_role(GUILD, admin, 77)).changed
    guild = await store.get_guild_settings(GUILD)
    assert is_moderator(
        MemberFacts(3, 0, (77,)), config_roles=(), guild_role_ids=guild.moderator_role_ids
    )
    assert (await service.moderator_roles(GUILD, MemberFacts(3, 0, (77,)))).role_ids == (77,)
    removed = await service.remove_moderator_role(GUILD, MemberFacts(9, 0, is_owner=True), 77)
    assert (removed.role_ids, removed.changed) == ((), True)
    with pytest.raises(NotModerator):
        await service.moderator_roles(GUILD, MemberFacts(3, 0, (77,)))


async def test_a_role_named_in_the_config_makes_a_moderator(store: SqlStore) -> None:
    service = service_on(store, moderator_roles=["Moderators"])
    helper = MemberFacts(BOB, 0, role_ids=(HELPERS,), role_names=("moderators",))
    await service.set_limit(GUILD, helper, LimitTarget("member", ALICE), 2)
    assert [o.limit for o in await store.list_overrides(GUILD)] == [2]


async def test_the_servers_moderator_roles_count(store: SqlStore) -> None:
    await store.set_guild_settings(GuildSettings(GUILD, moderator_role_ids=(HELPERS,)), now=NOW)
    helper = MemberFacts(BOB, 0, role_ids=(HELPERS,))
    listing = await service_on(store).list_overrides(GUILD, helper)
    assert listing.overrides == ()


async def test_manage_messages_is_not_enough(service: QuotaService) -> None:
    with pytest.raises(NotModerator):
        await service.list_overrides(GUILD, MemberFacts(BOB, 1 << 13))


async def test_the_owner_is_a_moderator(store: SqlStore, service: QuotaService) -> None:
    await service.set_limit(GUILD, manager, LimitTarget("member", ALICE), 2)
    with pytest.raises(NotModerator):  # the same member without the ownership: refused
        await service.clear(GUILD, MemberFacts(BOB, 0), LimitTarget("member", ALICE))
    owner = MemberFacts(BOB, 0, is_owner=True)
    assert await service.clear(GUILD, owner, LimitTarget("member", ALICE)) is True
    assert await store.list_overrides(GUILD) == []


# -- /quota default ----------------------------------------------------------------------------


async def test_the_server_default_applies_and_keeps_other_settings(
    store: SqlStore, service: QuotaService
) -> None:
    await store.set_guild_settings(GuildSettings(GUILD, moderator_role_ids=(HELPERS,)), now=NOW)
    base = await service.set_default(GUILD, manager, 2, "week")
    assert base == ResolvedLimit(2, "week", "server")
    assert await store.get_guild_settings(GUILD) == GuildSettings(GUILD, 2, "week", (HELPERS,))
    status = await service.show(GUILD, bob)
    assert (status.limit, status.source, status.window) == (2, "server", "week")


async def test_the_default_without_a_window_keeps_the_servers(
    store: SqlStore, service: QuotaService
) -> None:
    await service.set_default(GUILD, manager, 2, "month")
    base = await service.set_default(GUILD, manager, 0)
    assert base == ResolvedLimit(0, "month", "server")


async def test_a_server_default_can_be_unlimited_even_when_the_config_sets_a_limit(
    store: SqlStore, service: QuotaService
) -> None:
    base = await service.set_default(GUILD, manager, None)
    assert (base.limit, base.source) == (None, "server")
    assert (await store.get_guild_settings(GUILD)).default_limit == "unlimited"
    base = await service.set_default(GUILD, manager, 4)
    assert (base.limit, base.source) == (4, "server")


async def test_a_member_cannot_change_the_default(store: SqlStore, service: QuotaService) -> None:
    with pytest.raises(NotModerator, match="default quota"):
        await service.set_default(GUILD, alice, 100)
    assert (await store.get_guild_settings(GUILD)).default_limit is None


# -- /quota reset and /quota clear ----------------------------------------------------------------


async def test_a_reset_forgives_finished_use_but_not_videos_in_progress(
    store: SqlStore, service: QuotaService
) -> None:
    await charge(store, ALICE)
    await charge(store, ALICE)
    await charge(store, ALICE, finish=False)
    result = await service.reset(GUILD, manager, MemberRef(ALICE))
    assert result.forgiven == 2
    assert (result.status.used, result.status.remaining, result.status.in_flight) == (1, 4, 1)
    assert (await service.show(GUILD, alice)).used == 1


async def test_a_member_cannot_reset(store: SqlStore, service: QuotaService) -> None:
    await charge(store, ALICE)
    with pytest.raises(NotModerator, match="reset"):
        await service.reset(GUILD, alice, MemberRef(ALICE))
    assert (await service.show(GUILD, alice)).used == 1


async def test_clearing_falls_back_and_says_when_there_was_nothing(
    store: SqlStore, service: QuotaService
) -> None:
    target = LimitTarget("member", ALICE)
    await service.set_limit(GUILD, manager, target, 0)
    assert await service.clear(GUILD, manager, target) is True
    assert await service.clear(GUILD, manager, target) is False
    assert (await service.show(GUILD, alice)).source == "config"


# -- /quota list ---------------------------------------------------------------------------------


async def test_the_list_has_every_override_and_the_default(
    store: SqlStore, service: QuotaService
) -> None:
    await service.set_limit(GUILD, manager, LimitTarget("role", HELPERS), None, "month")
    await service.set_limit(GUILD, manager, LimitTarget("member", BOB), 1)
    await service.set_limit(OTHER_GUILD, manager, LimitTarget("member", ALICE), 9)
    listing = await service.list_overrides(GUILD, manager)
    assert listing.base == ResolvedLimit(5, "day", "config")
    assert [(o.target_kind, o.target_id, o.limit) for o in listing.overrides] == [
        ("member", BOB, 1),
        ("role", HELPERS, None),
    ]
    assert [listing.window_of(o) for o in listing.overrides] == ["day", "month"]


async def test_a_member_cannot_list(service: QuotaService) -> None:
    with pytest.raises(NotModerator, match="list"):
        await service.list_overrides(GUILD, alice)


# -- which role decided ------------------------------------------------------------------------


def role_override(role_id: int, limit: int | None, window: str | None = None) -> QuotaOverride:
    return QuotaOverride(GUILD, "role", role_id, limit, window, NOW)  # type: ignore[arg-type]


def test_the_deciding_role_is_none_unless_a_role_decided() -> None:
    overrides = [role_override(HELPERS, 3)]
    assert deciding_role(ResolvedLimit(3, "day", "server"), overrides, (HELPERS,)) is None


def test_a_tie_goes_to_the_role_whose_window_is_enforced() -> None:
    overrides = [role_override(HELPERS, 3, "week"), role_override(ARTISTS, 3, "month")]
    resolved = ResolvedLimit(3, "month", "role")
    assert deciding_role(resolved, overrides, (HELPERS, ARTISTS)) == ARTISTS


def test_roles_the_member_lacks_never_decide() -> None:
    overrides = [role_override(HELPERS, None), role_override(ARTISTS, None)]
    assert deciding_role(ResolvedLimit(None, "day", "role"), overrides, (ARTISTS,)) == ARTISTS

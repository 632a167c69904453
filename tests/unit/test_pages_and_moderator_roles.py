"""`/tasks` pages in both directions over the store, and the moderator roles an administrator
names with `/quota moderators`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.errors import NotModerator
from bot.domain.moderation import ADMINISTRATOR, MANAGE_GUILD, MemberFacts, is_moderator
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest
from bot.features.quotas import QuotaService
from bot.features.task_history import PAGE_SIZE, TaskQueries
from bot.settings import QuotaSettings
from bot.store.sql_store import SqlStore

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
GUILD, USER = 10, 30
ME = MemberFacts(USER, 0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(tmp_path / "pages.sqlite3")
    yield opened
    await opened.close()


async def make(store: SqlStore, count: int) -> list[int]:
    request = OmniRequest(prompt="a fox", aspect_ratio="16:9")
    ids = []
    for _ in range(count):
        new = NewTask("discord", request, 1, guild_id=GUILD, channel_id=20, user_id=USER)
        ids.append((await store.create_task(new, now=NOW)).id)
    return ids


async def test_pages_go_back_and_forth(store: SqlStore) -> None:
    ids = (await make(store, 2 * PAGE_SIZE + 5))[::-1]  # newest first
    queries = TaskQueries(store, QuotaSettings())
    first = await queries.recent(GUILD, ME)
    assert [t.id for t in first.tasks] == ids[:PAGE_SIZE]
    assert (first.has_newer, first.has_more) == (False, True)
    second = await queries.recent(GUILD, ME, before_id=first.tasks[-1].id)
    third = await queries.recent(GUILD, ME, before_id=second.tasks[-1].id)
    assert [t.id for t in third.tasks] == ids[2 * PAGE_SIZE :]
    assert (third.has_newer, third.has_more) == (True, False)
    back = await queries.recent(GUILD, ME, after_id=third.tasks[0].id)
    assert back == second
    again = await queries.recent(GUILD, ME, after_id=back.tasks[0].id)
    assert [t.id for t in again.tasks] == ids[:PAGE_SIZE]
    assert (again.has_newer, again.has_more) == (False, True)


async def test_only_administrators_name_moderator_roles(store: SqlStore) -> None:
    service = QuotaService(store, QuotaSettings(moderator_roles=("Helpers",)), clock=lambda: NOW)
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

"""The `/tasks` and `/task` use cases on a real SQLite store: visibility, paging, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import NotModerator, TaskNotFound
from bot.domain.lifecycle import TaskState
from bot.domain.moderation import MANAGE_GUILD, MemberFacts
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest
from bot.features.task_history import HISTORY_EVENTS, PAGE_SIZE, TaskQueries
from bot.settings import QuotaSettings
from bot.store.sql_store import SqlStore

S = TaskState
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
GUILD, OTHER_GUILD, CHANNEL = 10, 11, 20
ALICE, BOB, MOD = 30, 31, 32

alice = MemberFacts(ALICE, 0)
bob = MemberFacts(BOB, 0)
manager = MemberFacts(MOD, MANAGE_GUILD)


@pytest.fixture
def queries(store: SqlStore) -> TaskQueries:
    return TaskQueries(store, QuotaSettings(moderator_roles=("Helpers",)))


async def add_task(
    store: SqlStore, user_id: int, prompt: str = "a boat", *, guild_id: int = GUILD
) -> int:
    new = NewTask(
        "discord",
        OmniRequest(prompt=prompt, aspect_ratio="16:9"),
        1,
        guild_id=guild_id,
        channel_id=CHANNEL,
        user_id=user_id,
    )
    return (await store.create_task(new, now=NOW)).id


async def test_a_member_sees_their_own_tasks_newest_first(
    store: SqlStore, queries: TaskQueries
) -> None:
    first = await add_task(store, ALICE, "one")
    await add_task(store, BOB, "bob's")
    second = await add_task(store, ALICE, "two")
    await add_task(store, ALICE, "elsewhere", guild_id=OTHER_GUILD)
    page = await queries.recent(GUILD, alice)
    assert [t.id for t in page.tasks] == [second, first]
    assert (page.user_id, page.is_own, page.has_more, page.state) == (ALICE, True, False, None)


async def test_a_page_holds_ten_and_says_when_there_are_more(
    store: SqlStore, queries: TaskQueries
) -> None:
    ids = [await add_task(store, ALICE, f"video {n}") for n in range(PAGE_SIZE + 2)]
    page = await queries.recent(GUILD, alice)
    assert [t.id for t in page.tasks] == ids[::-1][:PAGE_SIZE]
    assert page.has_more
    older = await queries.recent(GUILD, alice, before_id=page.tasks[-1].id)
    assert [t.id for t in older.tasks] == ids[1::-1]
    assert not older.has_more


async def test_the_status_filter(store: SqlStore, queries: TaskQueries) -> None:
    queued = await add_task(store, ALICE)
    rejected = await add_task(store, ALICE)
    await store.transition(rejected, S.REJECTED, now=NOW, failure_reason="no")
    page = await queries.recent(GUILD, alice, state=S.QUEUED)
    assert ([t.id for t in page.tasks], page.state) == ([queued], S.QUEUED)


async def test_a_member_may_not_list_another_members_tasks(
    store: SqlStore, queries: TaskQueries
) -> None:
    await add_task(store, BOB)
    with pytest.raises(NotModerator, match="see another member's tasks"):
        await queries.recent(GUILD, alice, member_id=BOB)


async def test_naming_oneself_needs_no_rights(store: SqlStore, queries: TaskQueries) -> None:
    await add_task(store, ALICE)
    page = await queries.recent(GUILD, alice, member_id=ALICE)
    assert page.is_own and len(page.tasks) == 1


async def test_a_moderator_lists_anyones_tasks(store: SqlStore, queries: TaskQueries) -> None:
    task_id = await add_task(store, BOB)
    helper = MemberFacts(MOD, 0, role_names=("Helpers",))
    page = await queries.recent(GUILD, helper, member_id=BOB)
    assert ([t.id for t in page.tasks], page.is_own, page.user_id) == ([task_id], False, BOB)


async def test_one_task_in_full_with_its_history(store: SqlStore, queries: TaskQueries) -> None:
    task_id = await add_task(store, ALICE)
    await store.transition(task_id, S.SUBMITTING, now=NOW + timedelta(seconds=1))
    detail = await queries.detail(GUILD, alice, task_id)
    assert detail.task.id == task_id
    assert [(e.from_state, e.to_state) for e in detail.events] == [
        (None, S.QUEUED),
        (S.QUEUED, S.SUBMITTING),
    ]
    assert detail.earlier_events == 0


async def test_a_long_history_shows_the_latest_steps(store: SqlStore, queries: TaskQueries) -> None:
    task_id = await add_task(store, ALICE)
    for _ in range(6):  # Kling busy six times: two events each
        await store.transition(task_id, S.SUBMITTING, now=NOW)
        await store.requeue(task_id, not_before=None, now=NOW, detail="429")
    detail = await queries.detail(GUILD, alice, task_id)
    assert len(detail.events) == HISTORY_EVENTS
    assert detail.earlier_events == 13 - HISTORY_EVENTS
    assert detail.events[-1].detail == "429"


async def test_someone_elses_task_reads_like_a_missing_one(
    store: SqlStore, queries: TaskQueries
) -> None:
    bobs = await add_task(store, BOB)
    with pytest.raises(TaskNotFound) as missing:
        await queries.detail(GUILD, alice, 9999)
    with pytest.raises(TaskNotFound) as hidden:
        await queries.detail(GUILD, alice, bobs)
    assert str(hidden.value).replace(str(bobs), "N") == str(missing.value).replace("9999", "N")
    assert "that you can see" in str(hidden.value)


async def test_a_moderator_sees_anyones_task(store: SqlStore, queries: TaskQueries) -> None:
    bobs = await add_task(store, BOB)
    assert (await queries.detail(GUILD, manager, bobs)).task.user_id == BOB


async def test_another_servers_task_is_missing_even_for_moderators(
    store: SqlStore, queries: TaskQueries
) -> None:
    elsewhere = await add_task(store, ALICE, guild_id=OTHER_GUILD)
    for viewer in (alice, manager):
        with pytest.raises(TaskNotFound):
            await queries.detail(GUILD, viewer, elsewhere)


async def test_pages_go_back_and_forth(store: SqlStore) -> None:
    ids = [await add_task(store, ALICE) for _ in range(2 * PAGE_SIZE + 5)][::-1]  # newest first
    queries = TaskQueries(store, QuotaSettings())
    first = await queries.recent(GUILD, alice)
    assert [t.id for t in first.tasks] == ids[:PAGE_SIZE]
    assert (first.has_newer, first.has_more) == (False, True)
    second = await queries.recent(GUILD, alice, before_id=first.tasks[-1].id)
    third = await queries.recent(GUILD, alice, before_id=second.tasks[-1].id)
    assert [t.id for t in third.tasks] == ids[2 * PAGE_SIZE :]
    assert (third.has_newer, third.has_more) == (True, False)
    back = await queries.recent(GUILD, alice, after_id=third.tasks[0].id)
    assert back == second
    again = await queries.recent(GUILD, alice, after_id=back.tasks[0].id)
    assert [t.id for t in again.tasks] == ids[:PAGE_SIZE]
    assert (again.has_newer, again.has_more) == (False, True)

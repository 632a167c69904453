"""Two processes on one database doing the same thing at once: one wins, the other sees it.

Each test opens two stores on the test's database (on PostgreSQL: two pools, as two bot
processes have) and races them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.records import LibraryElement, NewTask
from bot.domain.request import make_request
from bot.store.sql_store import SqlStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def two_stores(store_location: Path | str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    first, second = await SqlStore.open(store_location), await SqlStore.open(store_location)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("guild_id", [10, None], ids=["member", "command-line"])
async def test_a_create_retried_from_two_processes_stores_one_task(
    two_stores: tuple[SqlStore, SqlStore], guild_id: int | None
) -> None:
    request = make_request({"prompt": "a heron at dawn", "aspect_ratio": "16:9"})
    new = (
        NewTask(origin="discord", request=request, cost=1, guild_id=10, channel_id=2, user_id=3)
        if guild_id is not None
        else NewTask(origin="cli", request=request, cost=1)
    )
    first, second = two_stores
    stored = await asyncio.gather(
        *(store.create_task(new, now=T0) for store in (first, second, first, second))
    )
    assert {task.id for task in stored} == {stored[0].id}
    assert len(await first.list_tasks()) == 1


async def test_an_element_removed_twice_at_once_is_removed_once(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    first, second = two_stores
    element = LibraryElement(
        guild_id=10, name="Captain", element_id=123456789, added_by=1, added_at=T0
    )
    assert await first.add_element(element)
    removed = await asyncio.gather(
        first.remove_element(10, "captain"), second.remove_element(10, "CAPTAIN")
    )
    assert [r for r in removed if r is not None] == [element]
    assert await first.list_elements(10) == []

"""A task's family and its removed result: the parent link, children, 🗑 on record, the buttons'
custom ids, and variations (the same request with a new prompt or new shots, checked again)."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.discord.buttons import RESULT_ID_TEMPLATE, result_custom_id
from bot.domain.errors import IllegalTransition, InvalidInput
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest, make_request
from bot.domain.storyboard import shots_from_lines
from bot.features.requests import variation_text, vary_request
from bot.store.migrate import load_migrations, migrate
from bot.store.sql_store import SqlStore

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
T = "2025-01-15T12:00:00.000000Z"
REQUEST = OmniRequest(prompt="a red fox running through snow", aspect_ratio="16:9")
STORYBOARD = make_request(
    {
        "model": "kling-v3-omni",
        "multi_shot": True,
        "shot_type": "customize",
        "prompt": "",
        "aspect_ratio": "16:9",
        "duration_s": 5,
        "shots": [{"prompt": "a dog", "duration_s": 2}, {"prompt": "it runs", "duration_s": 3}],
    }
)


def new_task(**kwargs: object) -> NewTask:
    kwargs.setdefault("origin", "discord")
    return NewTask(request=REQUEST, cost=1, guild_id=10, channel_id=20, user_id=30, **kwargs)  # type: ignore[arg-type]


async def delivered(store: SqlStore, task_id: int, message_id: int) -> None:
    for state in (
        TaskState.SUBMITTING,
        TaskState.SUBMITTED,
        TaskState.SUCCEEDED,
        TaskState.DELIVERING,
    ):
        await store.transition(task_id, state, now=NOW)
    await store.transition(task_id, TaskState.DELIVERED, now=NOW, delivery_message_id=message_id)


async def test_children_are_reruns_edits_and_variations_oldest_first(store: SqlStore) -> None:
    parent = await store.create_task(new_task(), now=NOW)
    other = await store.create_task(new_task(), now=NOW)
    rerun = await store.create_task(new_task(origin="rerun", rerun_of=parent.id), now=NOW)
    edit = await store.create_task(new_task(parent_id=parent.id, parent_kind="edit"), now=NOW)
    varied = await store.create_task(
        new_task(parent_id=parent.id, parent_kind="variation"), now=NOW
    )
    assert [t.id for t in await store.children_of(parent.id)] == [rerun.id, edit.id, varied.id]
    assert await store.children_of(other.id) == []
    assert (edit.edited_from, edit.varied_from) == (parent.id, None)
    assert (varied.edited_from, varied.varied_from) == (None, parent.id)
    events = await store.task_events(varied.id)
    assert events[0].detail == f"variation of task {parent.id}"


def test_a_parent_needs_its_kind_and_the_other_way_round() -> None:
    with pytest.raises(ValueError, match="together"):
        new_task(parent_id=1)
    with pytest.raises(ValueError, match="together"):
        new_task(parent_kind="variation")


async def test_removing_a_result_is_recorded_once_and_only_for_a_posted_one(
    store: SqlStore,
) -> None:
    task = await store.create_task(new_task(), now=NOW)
    with pytest.raises(IllegalTransition):
        await store.mark_result_deleted(task.id, by_user_id=7, now=NOW)
    await delivered(store, task.id, message_id=555)
    assert await store.mark_result_deleted(task.id, by_user_id=7, now=NOW)
    assert not await store.mark_result_deleted(task.id, by_user_id=8, now=NOW)
    stored = await store.get_task(task.id)
    assert (stored.state, stored.result_deleted_by, stored.result_deleted_at) == (
        TaskState.DELIVERED,
        7,
        NOW,
    )
    assert stored.delivery_message_id == 555  # the record stays
    assert (await store.task_events(task.id))[-1].detail == "result removed by <@7>"


async def test_the_migration_turns_edited_from_into_an_edit_parent(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    migrations = load_migrations()
    upto = next(m.version for m in migrations if m.name == "task_edited_from")
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await migrate(db, [m for m in migrations if m.version <= upto])
        for task_id, edited_from in ((1, None), (2, 1)):
            await db.execute(
                "INSERT INTO tasks (id, external_id, origin, guild_id, channel_id, user_id, "
                "request_json, cost, state, created_at, updated_at, queued_at, edited_from) "
                "VALUES (?, ?, 'discord', 1, 2, 3, ?, 1, 'queued', ?, ?, ?, ?)",
                (task_id, f"kob-{task_id}", REQUEST.model_dump_json(), T, T, T, edited_from),
            )
    store = await SqlStore.open(path)
    try:
        edit = await store.get_task(2)
        assert (edit.parent_id, edit.parent_kind, edit.edited_from) == (1, "edit", 1)
        assert (await store.get_task(1)).parent_kind is None
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
    assert "edited_from" not in columns and {"parent_id", "parent_kind"} <= columns


@pytest.mark.parametrize("action", ["rerun", "vary", "delete"])
def test_result_custom_ids_round_trip_and_fit_discord(action: str) -> None:
    custom_id = result_custom_id(action, 2**63 - 1)  # type: ignore[arg-type]
    assert len(custom_id) <= 100
    match = re.fullmatch(RESULT_ID_TEMPLATE, custom_id)  # what the dynamic item matches
    assert match is not None and (match["action"], int(match["task_id"])) == (action, 2**63 - 1)


@pytest.mark.parametrize("custom_id", ["kob:result:erase:1", "kob:result:rerun:", "x", ""])
def test_other_custom_ids_are_not_result_buttons(custom_id: str) -> None:
    assert re.fullmatch(RESULT_ID_TEMPLATE, custom_id) is None


def test_a_variation_changes_the_prompt_and_keeps_everything_else() -> None:
    varied = vary_request(REQUEST, "a red fox sleeping in snow")
    assert varied == REQUEST.model_copy(update={"prompt": "a red fox sleeping in snow"})
    assert variation_text(REQUEST) == REQUEST.prompt


@pytest.mark.parametrize(
    ("text", "words"),
    [("\u200b\u200b", "prompt"), ("x" * 2501, "2500"), ("<<<image_1>>> in snow", "image_1")],
)
def test_a_variation_is_refused_like_a_prompt(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        vary_request(REQUEST, text)


def test_a_storyboard_variation_takes_shots_one_a_line() -> None:
    assert variation_text(STORYBOARD) == "2: a dog\n3: it runs"
    varied = vary_request(STORYBOARD, "3: a cat\n\n4: it sleeps\n")
    assert [(s.duration_s, s.prompt) for s in varied.shots] == [(3, "a cat"), (4, "it sleeps")]
    assert varied.duration_s == 7


def test_shots_from_lines() -> None:
    assert shots_from_lines("2: a\n3: b | 1: c") == [(2, "a"), (3, "b"), (1, "c")]
    with pytest.raises(InvalidInput, match="one a line"):
        shots_from_lines("\n \n")

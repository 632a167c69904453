"""`kling-bot tasks` and `kling-bot task N` as an operator reads them: the console script on a
database made for the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Unpack

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord, TaskUpdate
from bot.domain.request import make_request
from bot.store.sql_store import SqlStore
from tests.helpers.cli import kling_bot

pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
API_ID = "878123456789012345678901234567"  # as long as Kling's: printed whole
LONG_PROMPT = "a paper boat drifting down a long river at dusk, lanterns on the water"
S = TaskState


async def step(
    store: SqlStore, task: TaskRecord, *moves: S, **fields: Unpack[TaskUpdate]
) -> TaskRecord:
    for index, to in enumerate(moves):
        task = await store.transition(
            task.id,
            to,
            now=T0 + timedelta(seconds=10 * (index + 1)),
            detail=f"to {to.value}",
            **(fields if to is moves[-1] else {}),
        )
    return task


@pytest.fixture
async def operator_dir(tmp_path: Path) -> Path:
    """A working directory whose default database holds four tasks of every kind."""
    store = await SqlStore.open(tmp_path / "data" / "kling-bot.sqlite3")
    try:
        member = {"guild_id": 111, "channel_id": 222, "user_id": 333}
        request = make_request({"prompt": LONG_PROMPT, "aspect_ratio": "16:9"})
        alice = await store.create_task(
            NewTask(origin="discord", request=request, cost=1, user_name="Alice L.", **member),
            now=T0,
        )
        await step(
            store,
            alice,
            S.SUBMITTING,
            S.SUBMITTED,
            S.PROCESSING,
            S.SUCCEEDED,
            S.DELIVERING,
            S.DELIVERED,
            api_task_id=API_ID,
            delivery_message_id=999,
        )
        old = await store.create_task(  # stored before names were: the ids stand in
            NewTask(
                origin="discord",
                request=make_request({"prompt": "a kite", "aspect_ratio": "1:1"}),
                cost=1,
                **member,
            ),
            now=T0,
        )
        await step(
            store,
            old,
            S.SUBMITTING,
            S.SUBMITTED,
            S.FAILED,
            api_task_id="8781",
            failure_reason="The video service refused the prompt.",
        )
        refused = await store.create_task(
            NewTask(
                origin="cli",
                request=make_request({"prompt": "a dog", "aspect_ratio": "1:1"}),
                cost=0,
            ),
            now=T0,
        )
        await step(store, refused, S.REJECTED, failure_reason="Withdrawn.")
    finally:
        await store.close()
    return tmp_path


async def test_tasks_shows_names_prompts_and_whole_api_ids(operator_dir: Path) -> None:
    run = await kling_bot("tasks", cwd=operator_dir)
    assert run.code == 0, run.stderr
    header, _, rejected, failed, delivered = run.stdout.splitlines()
    assert header.split()[:5] == ["id", "state", "origin", "who", "prompt"]
    assert delivered.split()[:6] == ["1", "delivered", "discord", "Alice", "L.", "a"]
    assert "a paper boat drifting down a…" in delivered
    assert f"  {API_ID}  message 999" in delivered
    assert failed.split()[:5] == ["2", "failed", "discord", "111/333", "a"]
    assert rejected.split()[:5] == ["3", "rejected", "cli", "cli", "a"]


async def test_a_status_filter_mentions_the_other_endings_without_a_video(
    operator_dir: Path,
) -> None:
    run = await kling_bot("tasks", "--status", "failed", cwd=operator_dir)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:-1]] == ["2"]
    assert lines[-1] == (
        "Also ended without a video: 1 rejected (--status failed,rejected lists them too)."
    )
    help_text = (await kling_bot("tasks", "--help", cwd=operator_dir)).stdout
    assert "rejected      refused before the API made anything" in help_text
    assert "undeliverable made, but could not be posted or saved; refunded" in help_text


async def test_no_tasks_names_the_database_it_read(tmp_path: Path) -> None:
    database = tmp_path / "data" / "kling-bot.sqlite3"
    run = await kling_bot("tasks", cwd=tmp_path)
    assert run.stdout.startswith(f"No tasks: there is no database at {database} ")
    await (await SqlStore.open(database)).close()
    run = await kling_bot("tasks", "--status", "failed", cwd=tmp_path)
    assert run.stdout == f"No tasks in state failed in {database}.\n"


async def test_task_shows_one_task_in_full_with_its_history(operator_dir: Path) -> None:
    run = await kling_bot("task", "1", cwd=operator_dir)
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "Task #1"
    for expected in (
        "  state        delivered (posted in its channel, or written to its file)",
        "  who          Alice L. (user 333, server 111, channel 222)",
        f"  prompt       {LONG_PROMPT}",
        "  request      kling-video-o1 std 5s, 16:9",
        f"  api task     {API_ID}",
        "  created      2026-03-01 12:00:00",
        "  result       message 999",
        "History (UTC):",
        "  2026-03-01 12:00:00  new → queued  created (discord)",
        "  2026-03-01 12:01:00  delivering → delivered  to delivered",
    ):
        assert expected in lines, f"{expected!r} not in:\n{run.stdout}"
    missing = await kling_bot("task", "7", cwd=operator_dir)
    assert missing.code == 1
    database = operator_dir / "data" / "kling-bot.sqlite3"
    assert missing.stderr == f"✗ There is no task 7 in {database}.\n"

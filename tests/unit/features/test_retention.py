"""Media retention: old inputs and results go, what an unfinished task needs stays."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import make_request
from bot.features.retention import (
    MediaEntry,
    MediaRetention,
    expired_media,
    media_owners,
    scan_media,
)
from bot.store.sql_store import SqlStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def entry(task_id: int, age_days: float, kind: str = "inputs") -> MediaEntry:
    relative = PurePosixPath("inputs", str(task_id))
    if kind == "results":
        relative = PurePosixPath("results", f"task-{task_id}.mp4")
    return MediaEntry(relative, kind, task_id, NOW - timedelta(days=age_days), 10)  # type: ignore[arg-type]


def test_older_than_the_limit_goes_unless_in_use() -> None:
    entries = [entry(1, 31), entry(2, 29), entry(3, 40), entry(1, 31, "results")]
    expired = expired_media(entries, now=NOW, keep_days=30, in_use={3})
    assert [(e.kind, e.task_id) for e in expired] == [("inputs", 1), ("results", 1)]
    assert expired_media(entries, now=NOW, keep_days=0, in_use=set()) == []  # keep forever


def test_the_owners_of_kept_inputs_are_read_from_media_references() -> None:
    urls = ["media:inputs/12/image_1.png", "media:inputs/7/video.mp4", "https://x/y.png", "b64"]
    assert media_owners(urls) == {12, 7}


def make_file(path: Path, age_days: float, size: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    moment = (NOW - timedelta(days=age_days)).timestamp()
    os.utime(path, (moment, moment))


def request(images: list[dict[str, str]] | None = None) -> object:
    return make_request(
        {
            "model": "kling-video-o1",
            "prompt": "a boat",
            "duration_s": 5,
            "aspect_ratio": "16:9",
            "images": images or [],
        }
    )


def new_task(images: list[dict[str, str]] | None = None, *, rerun_of: int | None = None) -> NewTask:
    return NewTask(
        "rerun" if rerun_of else "discord",
        request(images),  # type: ignore[arg-type]
        1,
        guild_id=1,
        channel_id=2,
        user_id=3,
        rerun_of=rerun_of,
    )


@pytest.fixture
async def store(tmp_path: Path) -> SqlStore:
    opened = await SqlStore.open(tmp_path / "bot.sqlite3")
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_a_pass_removes_only_what_is_old_and_unneeded(
    tmp_path: Path, store: SqlStore
) -> None:
    media = tmp_path / "media"
    image = [{"url": "media:inputs/1/image_1.png"}]
    old = await store.create_task(new_task(image), now=NOW)  # 1: finished long ago
    await store.transition(old.id, TaskState.REJECTED, now=NOW, failure_reason="x")
    shared = await store.create_task(new_task([{"url": "media:inputs/2/image_1.png"}]), now=NOW)
    await store.transition(shared.id, TaskState.FAILED, now=NOW, failure_reason="x")
    # A rerun of task 2 still queued: task 2's old inputs must stay until it has been sent.
    rerun = await store.create_task(
        new_task([{"url": "media:inputs/2/image_1.png"}], rerun_of=shared.id), now=NOW
    )
    running = await store.create_task(new_task(), now=NOW)  # unfinished: its files stay
    make_file(media / "inputs/1/image_1.png", 45)
    make_file(media / "inputs/1/end_frame.jpg", 40)
    make_file(media / "results/task-1.mp4", 45, size=1000)
    make_file(media / "inputs/2/image_1.png", 60)
    make_file(media / f"results/task-{running.id}.mp4", 60)
    make_file(media / "inputs/9/image_1.png", 2)  # recent: stays
    make_file(media / "results/.task-8.mp4.part", 50)  # a download cut off long ago
    make_file(media / "results/notes.txt", 90)  # not ours: never touched
    retention = MediaRetention(store, media, keep_days=30)

    done = await retention.run_once(now=NOW)

    removed = sorted(str(e.relative) for e in done.removed)
    assert removed == ["inputs/1", "results/.task-8.mp4.part", "results/task-1.mp4"]
    assert done.freed_bytes == 100 + 100 + 1000 + 100
    assert not (media / "inputs/1").exists()
    assert (media / "inputs/2/image_1.png").exists(), f"still needed by task {rerun.id}"
    assert (media / f"results/task-{running.id}.mp4").exists()
    assert (media / "inputs/9/image_1.png").exists()
    assert (media / "results/notes.txt").exists()
    assert (await retention.run_once(now=NOW)).removed == ()  # nothing left to do


async def test_keep_forever_and_the_loop_stops(tmp_path: Path, store: SqlStore) -> None:
    media = tmp_path / "media"
    make_file(media / "inputs/1/image_1.png", 400)
    forever = MediaRetention(store, media, keep_days=0)
    assert (await forever.run_once(now=NOW)).removed == ()
    forever.start()
    await forever.stop()
    looping = MediaRetention(store, media, keep_days=30, every_s=3600)
    looping.start()  # the first pass runs at once, the next in an hour

    async def removed() -> None:
        while scan_media(media):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(removed(), 30)
    await looping.stop()

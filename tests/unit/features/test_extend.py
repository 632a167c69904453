"""▶ Extend's rules (pure), the migration that lets a task be an extension, and the joined chain
(PyAV on clips made at test time): copied where the shots match, encoded again where not."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.errors import InvalidInput
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord
from bot.domain.request import OmniRequest, make_request
from bot.fakes.clip_maker import make_clip
from bot.features.chain_post import ChainPost, joined_lines
from bot.features.clip_hosting import clip_filename, result_owner, result_reference
from bot.features.clip_join import PieceStreams, can_remux, join_clips
from bot.features.clips import ClipFacts, probe_clip
from bot.features.extend import (
    EXTEND_TEXT_MAX_CHARS,
    NEXT_SHOT,
    chain_refusal,
    clip_refusal,
    extension_request,
    member_text,
    nearest_aspect_ratio,
    text_refusal,
)
from bot.features.extensions import chain_of
from bot.features.render import status_view
from bot.features.render_lists import task_detail_view
from bot.features.retention import media_owners
from bot.features.task_history import TaskDetail
from bot.store.migrate import load_migrations, migrate
from bot.store.sql_store import SqlStore
from tests.helpers.tasks import make_task

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
T = "2025-01-15T12:00:00.000000Z"
FACTS = ClipFacts(duration_s=5.0, width=1280, height=720, fps=24.0, codec="h264", has_audio=False)
REQUEST = OmniRequest(prompt="a red fox running through snow", aspect_ratio="16:9")


def new_task(**kwargs: object) -> NewTask:
    kwargs.setdefault("origin", "discord")
    return NewTask(request=REQUEST, cost=1, guild_id=10, channel_id=20, user_id=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


# -- the rules -------------------------------------------------------------------------------


def test_the_next_shot_keeps_model_mode_references_and_sends_the_result_as_a_feature() -> None:
    parent = make_request(
        {
            "model": "kling-video-o1",
            "prompt": "the fox in <<<image_1>>> runs",
            "mode": "pro",
            "aspect_ratio": "9:16",
            "duration_s": 10,
            "images": [{"url": "media:inputs/1/image_1.png"}],
            "elements": [{"element_id": 42}],
            "watermark": True,
        }
    )
    request = extension_request(
        parent,
        text=member_text(parent),
        clip_reference=result_reference(7),
        facts=FACTS,
        default_duration_s=5,
    )
    assert request.prompt == NEXT_SHOT + "the fox in <<<image_1>>> runs"
    assert (request.model, request.mode, request.aspect_ratio, request.duration_s) == (
        "kling-video-o1",
        "pro",
        "9:16",  # the member's choice stands
        10,
    )
    assert (request.sound, request.watermark, request.images, request.elements) == (
        False,
        True,
        parent.images,
        parent.elements,
    )
    [video] = request.videos
    assert (video.url, video.refer_type, video.keep_original_sound) == (
        "media:results/task-7.mp4",
        "feature",
        False,
    )


def test_an_animated_picture_is_continued_without_its_frames_in_the_shape_of_its_video() -> None:
    parent = make_request(
        {
            "prompt": "it moves",
            "images": [
                {"url": "media:inputs/1/first_frame.png", "frame": "first_frame"},
                {"url": "media:inputs/1/first_frame.png", "frame": "end_frame"},
            ],
            "duration_s": 5,
            "sound": False,
        }
    )
    portrait = replace(FACTS, width=720, height=1280)
    request = extension_request(
        parent,
        text="it jumps",
        clip_reference=result_reference(3),
        facts=portrait,
        default_duration_s=5,
    )
    assert request.images == () and request.aspect_ratio == "9:16"
    assert request.prompt == NEXT_SHOT + "it jumps"


def test_an_edit_is_continued_with_the_configured_length_within_three_to_ten() -> None:
    edit = make_request(
        {"prompt": "snow", "duration_s": None, "videos": [{"url": "media:inputs/1/video.mp4"}]}
    )
    for default, expected in ((5, 5), (15, 10), (2, 3)):
        request = extension_request(
            edit,
            text="more snow",
            clip_reference=result_reference(1),
            facts=FACTS,
            default_duration_s=default,
        )
        assert request.duration_s == expected


def test_the_member_text_is_the_prompt_without_the_wording_or_a_storyboards_last_shot() -> None:
    continued = extension_request(
        REQUEST,
        text="it rains",
        clip_reference=result_reference(1),
        facts=FACTS,
        default_duration_s=5,
    )
    assert member_text(continued) == "it rains"
    assert member_text(REQUEST) == REQUEST.prompt
    storyboard = make_request(
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
    assert member_text(storyboard) == "it runs"


def test_nearest_aspect_ratio() -> None:
    assert [nearest_aspect_ratio(w, h) for w, h in ((1920, 1080), (1080, 1920), (720, 720))] == [
        "16:9",
        "9:16",
        "1:1",
    ]
    assert nearest_aspect_ratio(850, 720) == "1:1" and nearest_aspect_ratio(1100, 720) == "16:9"
    assert nearest_aspect_ratio(720, 1100) == "9:16"


def test_a_chain_has_at_most_the_configured_extensions() -> None:
    assert chain_refusal(0, 4) is None and chain_refusal(3, 4) is None
    refusal = chain_refusal(4, 4)
    assert refusal is not None
    assert "already continues its first shot 4 times: a chain has at most 4 extensions." in refusal
    assert "at most 1 extension." in (chain_refusal(1, 1) or "")
    assert chain_refusal(0, 0) == "Extending videos is turned off on this bot."


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"duration_s": 15.0}, "is 15.0 s long; Kling continues videos of 3 to 10 s"),
        ({"duration_s": 2.0}, "is 2.0 s long"),
        ({"width": 640}, "is 640×720 px; Kling continues videos of 720 to 2160 px a side"),
        ({"fps": 12.0}, "runs at 12 fps; Kling continues videos of 24 to 60 fps"),
        ({"codec": "vp9"}, "is encoded as vp9; Kling continues H.264 or H.265 videos only"),
    ],
)
def test_a_result_kling_would_not_take_as_a_clip_is_refused_with_its_measure(
    change: dict[str, object], said: str
) -> None:
    assert clip_refusal(9, FACTS) is None
    refusal = clip_refusal(9, replace(FACTS, **change))  # type: ignore[arg-type]
    assert refusal is not None and refusal.startswith("Task #9's video") and said in refusal


def test_the_next_shot_text_leaves_room_for_the_wording() -> None:
    assert text_refusal("x" * EXTEND_TEXT_MAX_CHARS) is None
    refusal = text_refusal("x" * (EXTEND_TEXT_MAX_CHARS + 1))
    assert refusal is not None and f"it may have {EXTEND_TEXT_MAX_CHARS}" in refusal
    request = extension_request(
        REQUEST,
        text="x" * EXTEND_TEXT_MAX_CHARS,
        clip_reference=result_reference(1),
        facts=FACTS,
        default_duration_s=5,
    )
    assert len(request.prompt) == 2500


def test_a_results_reference_is_found_on_its_result_message_and_kept_by_retention() -> None:
    reference = result_reference(12)
    assert (result_owner(reference), clip_filename(reference)) == (12, "kling-12.mp4")
    assert result_owner("media:inputs/12/video.mp4") is None
    assert media_owners([reference, "media:inputs/3/video.mp4"]) == {12, 3}


# -- the records -----------------------------------------------------------------------------


async def test_an_extension_is_a_child_and_its_chain_runs_back_to_the_first_video(
    store: SqlStore,
) -> None:
    first = await store.create_task(new_task(), now=NOW)
    second = await store.create_task(new_task(parent_id=first.id, parent_kind="extension"), now=NOW)
    third = await store.create_task(new_task(parent_id=second.id, parent_kind="extension"), now=NOW)
    varied = await store.create_task(new_task(parent_id=third.id, parent_kind="variation"), now=NOW)
    assert (third.extends, varied.extends) == (second.id, None)
    assert [t.id for t in await chain_of(store, third)] == [first.id, second.id, third.id]
    assert [t.id for t in await chain_of(store, varied)] == [varied.id]  # not an extension
    assert (await store.task_events(second.id))[0].detail == f"extension of task {first.id}"
    assert [t.id for t in await store.children_of(first.id)] == [second.id]


async def test_the_migration_widens_the_kinds_in_place_keeping_rows_and_other_connections(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before.sqlite3"
    migrations = load_migrations()
    before = next(m.version for m in migrations if m.name == "extension_parent") - 1
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA foreign_keys = ON")
        await migrate(db, [m for m in migrations if m.version <= before])
        for parent in (None, 1):
            await db.execute(
                "INSERT INTO tasks (external_id, origin, guild_id, channel_id, user_id, "
                "request_json, cost, state, created_at, updated_at, queued_at, parent_id, "
                "parent_kind) VALUES (?, 'discord', 1, 2, 3, ?, 1, 'queued', ?, ?, ?, ?, ?)",
                (
                    f"kob-{parent}",
                    REQUEST.model_dump_json(),
                    T,
                    T,
                    T,
                    parent,
                    None if parent is None else "variation",
                ),
            )
    # Another process had the database open before the bot migrated it.
    other = sqlite3.connect(path, isolation_level=None)
    try:
        assert other.execute("SELECT count(*) FROM tasks").fetchone() == (2,)  # schema read
        store = await SqlStore.open(path)
        try:
            assert await store.integrity_check() == "ok"
            assert (await store.get_task(2)).parent_kind == "variation"
            made = await store.create_task(new_task(parent_id=2, parent_kind="extension"), now=NOW)
            assert made.extends == 2
        finally:
            await store.close()
        other.execute(
            "INSERT INTO tasks (external_id, origin, guild_id, channel_id, user_id, request_json,"
            " cost, state, created_at, updated_at, queued_at, parent_id, parent_kind) "
            "VALUES ('kob-x', 'discord', 1, 2, 3, '{}', 1, 'queued', ?, ?, ?, 1, 'extension')",
            (T, T, T),
        )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            other.execute(
                "INSERT INTO tasks (external_id, origin, guild_id, channel_id, user_id, "
                "request_json, cost, state, created_at, updated_at, queued_at, parent_id, "
                "parent_kind) VALUES ('kob-y', 'discord', 1, 2, 3, '{}', 1, 'queued', ?, ?, ?, "
                "1, 'sequel')",
                (T, T, T),
            )
    finally:
        other.close()


# -- what a member sees ------------------------------------------------------------------------


def record(task_id: int, **changes: object) -> TaskRecord:
    """A delivered task of member 30 in channel 20 of server 10, made at NOW."""
    delivered: dict[str, object] = {
        "id": task_id,
        "external_id": f"kob-{task_id}",
        "guild_id": 10,
        "channel_id": 20,
        "user_id": 30,
        "request": REQUEST,
        "state": TaskState.DELIVERED,
        "created_at": NOW,
        "updated_at": NOW,
        "queued_at": NOW,
        "submitted_at": NOW,
        "finished_at": NOW,
        "delivery_message_id": 100 + task_id,
    }
    return replace(make_task(), **{**delivered, **changes})  # type: ignore[arg-type]


def test_an_extension_says_so_on_its_status_and_task_shows_the_chain() -> None:
    first = record(1)
    second = record(2, parent_id=1, parent_kind="extension")
    third = record(3, parent_id=2, parent_kind="extension")
    assert "Next shot · extension of #2" in status_view(third, position=None, now=NOW).title
    view = task_detail_view(
        TaskDetail(third, (), 0, parent=second, chain=(first, second, third)), now=NOW
    )
    [family] = [f.value for f in view.fields if f.name == "Family"]
    link = "https://discord.com/channels/10/20/"
    assert f"An extension of [#2]({link}102)" in family
    assert f"Chain: [#1]({link}101) → [#2]({link}102) → **#3**" in family


def test_the_joined_chain_is_attached_or_its_shots_linked_when_too_large() -> None:
    chain = [record(1), record(2, parent_id=1, parent_kind="extension")]
    attached, too_large = joined_lines(chain, 10.0, 5_000_000, 10 * 1024 * 1024)
    assert attached == "🎞️ The whole chain, #1 → #2, joined into one 10 s clip: attached."
    _, too_large = joined_lines(chain, 10.0, 12 * 1024 * 1024, 10 * 1024 * 1024)
    assert "is 12 MiB, more than this server's upload limit (10 MiB)" in too_large
    assert "#1 (https://discord.com/channels/10/20/101) → #2 (" in too_large


# -- joining clips (PyAV) ----------------------------------------------------------------------


async def clip(tmp_path: Path, name: str, **options: object) -> Path:
    return await asyncio.to_thread(make_clip, tmp_path / name, **options)  # type: ignore[arg-type]


def frames_in(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_pieces_with_the_same_streams_are_copied_and_others_not() -> None:
    same = PieceStreams(("h264", 720, 720, "yuv420p", b"x"), None)
    assert can_remux([same, same])
    assert not can_remux([same, replace(same, video=("h264", 1280, 720, "yuv420p", b"x"))])
    assert not can_remux([same, replace(same, audio=("aac", 48000, "mono", b""))])


async def test_matching_shots_are_copied_end_to_end(tmp_path: Path) -> None:
    a, b = await clip(tmp_path, "a.mp4"), await clip(tmp_path, "b.mp4", seconds=4.0)
    joined = await asyncio.to_thread(join_clips, [a, b, a], tmp_path / "j.mp4")
    assert joined.mode == "remux" and round(joined.duration_s, 2) == 10.0
    facts = probe_clip("joined", joined.path)
    assert (facts.width, facts.height, round(facts.duration_s, 2)) == (720, 720, 10.0)
    assert frames_in(joined.path) == 240  # every frame of every shot decodes


async def test_shots_that_differ_are_encoded_again_at_the_first_ones_size_with_sound(
    tmp_path: Path,
) -> None:
    a = await clip(tmp_path, "a.mp4")
    b = await clip(tmp_path, "b.mp4", width=1280, height=720, fps=30, with_audio=True)
    joined = await asyncio.to_thread(join_clips, [a, b], tmp_path / "j.mp4")
    assert joined.mode == "reencode"
    facts = probe_clip("joined", joined.path)
    assert (facts.width, facts.height, facts.fps, facts.has_audio) == (720, 720, 24.0, True)
    assert round(facts.duration_s) == 6 and frames_in(joined.path) == 144


def test_a_broken_piece_is_a_sentence_and_leaves_no_file(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(InvalidInput, match="could not be joined"):
        join_clips([a, broken], tmp_path / "j.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "broken.mp4"]


async def test_the_chain_post_joins_the_kept_results_once_and_says_what_is_missing(
    store: SqlStore, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    first = await store.create_task(new_task(), now=NOW)
    second = await store.create_task(new_task(parent_id=first.id, parent_kind="extension"), now=NOW)
    post = ChainPost(store, results)
    assert await post.extras(first, 10_000_000) == type(await post.extras(first, 1))()
    missing = await post.extras(second, 10_000_000)
    assert missing.file is None and f"does not have #{first.id}, #{second.id} on its disk" in (
        missing.text(is_attached=False)
    )
    for task in (first, second):
        await clip(results, f"task-{task.id}.mp4")
    extras = await post.extras(second, 10_000_000)
    assert extras.file is not None and extras.file.filename == f"kling-chain-{second.id}.mp4"
    assert extras.text(is_attached=True).splitlines() == [
        f"▶ The next shot after #{first.id}.",
        f"🎞️ The whole chain, #{first.id} → #{second.id}, joined into one 6 s clip: attached.",
    ]
    kept = extras.file.path.stat().st_mtime_ns
    small = await post.extras(second, 1000)  # a retry reuses the joined file
    assert small.file is None and "more than this server's upload limit" in small.text(
        is_attached=False
    )
    assert extras.file.path.stat().st_mtime_ns == kept

"""What a member reads: the status embed's words per state, its limits, and the result message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.delivery import Form
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.domain.wording import clip, human_duration, human_size, human_sizes_apart, jump_url
from bot.features.render import (
    CONTENT_MAX_CHARS,
    DESCRIPTION_MAX_CHARS,
    EMBED_MAX_CHARS,
    FIELD_VALUE_MAX_CHARS,
    is_result_text,
    position_worth_an_edit,
    result_text,
    state_text,
    status_view,
)
from tests.helpers.tasks import CHANNEL, CREATED, GUILD, USER, make_task

MiB = 1024 * 1024
NOW = CREATED + timedelta(minutes=2, seconds=5)


def field(view_task: TaskRecord, name: str, position: int | None = None) -> str:
    view = status_view(view_task, position=position, now=NOW)
    return next(f.value for f in view.fields if f.name == name)


# -- the words for each state ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "position", "words"),
    [
        ({"state": TaskState.QUEUED}, 3, "Waiting in line — position 3"),
        ({"state": TaskState.QUEUED}, None, "Waiting in line"),
        ({"state": TaskState.SUBMITTING}, None, "Sent to Kling"),
        ({"state": TaskState.SUBMITTED}, None, "Sent to Kling"),
        ({"state": TaskState.PROCESSING, "progress_pct": 30}, None, "Rendering… (30%)"),
        ({"state": TaskState.PROCESSING}, None, "Rendering…"),
        ({"state": TaskState.SUCCEEDED}, None, "Finishing up — posting the video"),
        ({"state": TaskState.DELIVERING}, None, "Finishing up — posting the video"),
        ({"state": TaskState.DELIVERED}, None, "Done ✅"),
        (
            {"state": TaskState.AMBIGUOUS},
            None,
            "Checking with Kling whether the task was received",
        ),
    ],
)
def test_each_state_reads_in_plain_words(
    changes: dict[str, Any], position: int | None, words: str
) -> None:
    task = make_task(**changes)
    assert state_text(task, position=position) == words
    assert field(task, "Status", position) == words


def test_a_requeued_task_says_kling_was_busy() -> None:
    task = make_task(attempts=1)
    assert state_text(task, position=2) == (
        "Waiting in line — position 2 (Kling was busy; it will be sent again shortly)"
    )


def test_delivered_links_to_the_result_message() -> None:
    task = make_task(state=TaskState.DELIVERED, delivery_message_id=999, finished_at=NOW)
    link = jump_url(GUILD, CHANNEL, 999)
    assert link == f"https://discord.com/channels/{GUILD}/{CHANNEL}/999"
    assert state_text(task, position=None) == f"Done ✅ — [jump to the video]({link})"


@pytest.mark.parametrize(
    "state",
    [TaskState.FAILED, TaskState.REJECTED, TaskState.TIMED_OUT, TaskState.UNDELIVERABLE],
)
def test_failures_say_why_and_that_the_credit_came_back(state: TaskState) -> None:
    task = make_task(state=state, failure_reason="the prompt was refused by moderation")
    assert state_text(task, position=None) == (
        "❌ The prompt was refused by moderation. Your credit was refunded."
    )


def test_failure_without_a_reason_uses_the_state_default() -> None:
    task = make_task(state=TaskState.TIMED_OUT)
    assert state_text(task, position=None) == (
        "❌ Kling took too long to make this video. Your credit was refunded."
    )


def test_no_refund_sentence_for_a_free_task() -> None:
    task = make_task(state=TaskState.FAILED, cost=0, failure_reason="Kling failed.")
    assert state_text(task, position=None) == "❌ Kling failed."


def test_refund_of_several_credits() -> None:
    task = make_task(state=TaskState.FAILED, cost=3, failure_reason="Kling failed!")
    assert state_text(task, position=None) == "❌ Kling failed! Your 3 credits were refunded."


# -- the rest of the embed -------------------------------------------------------------------


def test_status_view_shows_prompt_settings_inputs_requester_and_id() -> None:
    task = make_task(
        {
            "prompt": "a cat @everyone <@&555> on a <<<element_1>>> sofa",
            "aspect_ratio": "9:16",
            "model": "kling-v3-omni",
            "mode": "pro",
            "duration_s": 8,
            "sound": True,
            "images": [{"url": "https://x/a.png"}, {"url": "https://x/b.png"}],
            "elements": [{"element_id": 7}],
        },
        state=TaskState.PROCESSING,
        progress_pct=30,
    )
    view = status_view(task, position=None, now=NOW)
    values = {f.name: f.value for f in view.fields}
    assert view.description == "a cat @everyone <@&555> on a <<<element_1>>> sofa"
    assert view.title == "🎬 Video from references"
    assert view.footer == "Task #42 · /task id:42"
    assert view.timestamp == CREATED
    assert values["Status"] == "Rendering… (30%)"
    assert values["Requested by"] == f"<@{USER}>"
    assert values["Model"] == "kling-v3-omni (Pro)"
    assert values["Length"] == "8 s"
    assert values["Frame"] == "9:16"
    assert values["Sound"] == "on"
    assert values["Inputs"] == "2 images, 1 element"
    assert values["Elapsed"].startswith("2 min 5 s (started <t:")
    assert view.fields[0].name == "Status" and not view.fields[0].inline


def test_frame_and_length_come_from_the_inputs_when_they_decide() -> None:
    first_frame = make_task(
        {"prompt": "the boat sails", "images": [{"url": "https://x/f.png", "frame": "first_frame"}]}
    )
    assert field(first_frame, "Frame") == "from the first frame"
    assert field(first_frame, "Inputs") == "first frame"
    edit = make_task(
        {
            "prompt": "make it snow",
            "duration_s": None,
            "videos": [{"url": "https://x/v.mp4", "keep_original_sound": True}],
        }
    )
    assert field(edit, "Frame") == "from the video"
    assert field(edit, "Length") == "as long as the video"
    assert field(edit, "Sound") == "the video's own"
    assert field(edit, "Inputs") == "1 video (edit)"
    assert status_view(edit, position=None, now=NOW).title == "🎬 Video edit"


def test_text_only_request_and_finished_time() -> None:
    task = make_task(
        state=TaskState.DELIVERED, finished_at=CREATED + timedelta(seconds=75), progress_pct=100
    )
    assert field(task, "Inputs") == "text only"
    assert field(task, "Took") == "1 min 15 s"  # frozen at the finish, not counting on


def test_storyboard_lists_its_shots() -> None:
    task = make_task(
        {
            "model": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "customize",
            "duration_s": 5,
            "aspect_ratio": "16:9",
            "shots": [
                {"prompt": "a dog by the sea", "duration_s": 2},
                {"prompt": "it runs along the beach", "duration_s": 3},
            ],
        }
    )
    view = status_view(task, position=1, now=NOW)
    assert view.title == "🎬 Storyboard · 2 shots"
    assert view.description == (
        "**Shot 1** (2 s): a dog by the sea\n**Shot 2** (3 s): it runs along the beach"
    )


def test_rerun_and_command_line_tasks() -> None:
    task = make_task(origin="rerun", rerun_of=7, user_id=None)
    view = status_view(task, position=None, now=NOW)
    assert view.title == "🎬 🔁 Text to video · rerun of #7"
    assert field(task, "Requested by") == "the command line"


def test_embed_stays_within_discords_limits() -> None:
    # A storyboard is the longest text a task can carry; a long failure reason adds to it.
    long_reason = "the service said no " * 200
    task = make_task(
        {
            "model": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "customize",
            "duration_s": 6,
            "aspect_ratio": "16:9",
            "prompt": "x" * 2500,
            "shots": [{"prompt": "y" * 512, "duration_s": 1}] * 6,
        },
        state=TaskState.FAILED,
        failure_reason=long_reason,
    )
    view = status_view(task, position=None, now=NOW)
    assert len(view.description) <= DESCRIPTION_MAX_CHARS
    assert view.description.endswith("…")
    assert all(0 < len(f.value) <= FIELD_VALUE_MAX_CHARS for f in view.fields)
    assert view.size <= EMBED_MAX_CHARS
    assert view.size == EMBED_MAX_CHARS or len(view.description) == DESCRIPTION_MAX_CHARS


def test_a_short_prompt_is_never_cut() -> None:
    prompt = "p" * 2500
    task = make_task({"prompt": prompt, "aspect_ratio": "1:1"})
    assert status_view(task, position=None, now=NOW).description == prompt


# -- clipping --------------------------------------------------------------------------------


def test_clip_keeps_short_text_and_marks_a_cut() -> None:
    assert clip("short", 10) == "short"
    cut = clip("a" * 50, 10)
    assert cut == "a" * 9 + "…" and len(cut) == 10


def test_clip_prefers_a_word_boundary() -> None:
    assert clip("the quick brown fox jumps", 18) == "the quick brown…"


def test_clip_never_splits_a_mention_or_a_placeholder() -> None:
    assert clip("see <@123456789012345678> now", 15) == "see…"
    assert clip("look at<<<image_1>>>", 12) == "look at…"


def test_clip_never_splits_a_joined_emoji() -> None:
    family = "👨\u200d👩\u200d👧"
    cut = clip("x" * 5 + family + "tail", 8)
    assert len(cut) <= 8
    assert not cut.removesuffix("…").endswith("\u200d")


# -- sizes and durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (850, "850 B"),
        (1536, "1.5 KiB"),
        (10 * MiB, "10 MiB"),
        (int(85.24 * MiB), "85.2 MiB"),
        (1024 * MiB - 1, "1 GiB"),
        (3 * 1024 * 1024 * MiB, "3 TiB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("size", "limit", "texts"),
    [
        (int(85.2 * MiB), 10 * MiB, ("85.2 MiB", "10 MiB")),
        (int(10.04 * MiB), 10 * MiB, ("10.04 MiB", "10 MiB")),
        (10 * MiB + 1, 10 * MiB, ("10,485,761 bytes", "10,485,760 bytes")),
        (10 * MiB, 10 * MiB, ("10 MiB", "10 MiB")),
    ],
)
def test_sizes_that_differ_never_read_alike(size: int, limit: int, texts: tuple[str, str]) -> None:
    assert human_sizes_apart(size, limit) == texts


def test_a_result_one_byte_over_the_limit_says_by_how_much() -> None:
    text = result_text(make_task(), Form.LINK, 10 * MiB + 1, 10 * MiB, url="https://k/1.mp4")
    assert (
        "It's 10,485,761 bytes, too large to attach here "
        "(this server's upload limit is 10,485,760 bytes)"
    ) in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0 s"),
        (0, "0 s"),
        (45.9, "45 s"),
        (60, "1 min"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (3780, "1 h 3 min"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# -- the result message ----------------------------------------------------------------------


def test_file_result_pings_the_requester_and_names_the_task() -> None:
    text = result_text(make_task(), Form.FILE, 2 * MiB, 10 * MiB)
    assert (
        text == f"<@{USER}> your video is ready! 🎬 Task #42 · React with 🔁 to make another take."
    )
    assert "paper boat" not in text  # the prompt never goes in the content


def test_link_result_explains_size_limit_and_expiry() -> None:
    task = make_task(result_url="https://cdn.kling.example/v/42.mp4")
    text = result_text(task, Form.LINK, int(85.2 * MiB), 10 * MiB)
    lines = text.split("\n")
    assert lines[0] == f"<@{USER}> your video is ready! 🎬 Task #42"
    assert lines[1] == "https://cdn.kling.example/v/42.mp4"
    assert "It's 85.2 MiB, too large to attach here" in lines[2]
    assert "this server's upload limit is 10 MiB" in lines[2]
    assert "expire after about 30 days" in lines[2]


def test_link_result_when_size_is_unknown_or_discord_refused() -> None:
    task = make_task()
    unknown = result_text(task, Form.LINK, None, 50 * MiB, url="https://k/1.mp4")
    assert "https://k/1.mp4" in unknown
    assert "It's too large to attach here (this server's upload limit is 50 MiB)" in unknown
    refused = result_text(task, Form.LINK, 9 * MiB, 10 * MiB, url="https://k/1.mp4")
    assert "Discord wouldn't take it as an attachment" in refused


def test_link_result_keeps_the_link_when_it_must_shorten() -> None:
    url = "https://k/" + "a" * 1900
    text = result_text(make_task(), Form.LINK, None, 10 * MiB, url=url)
    assert len(text) <= CONTENT_MAX_CHARS
    assert url in text


def test_result_text_without_a_requester_pings_no_one() -> None:
    text = result_text(make_task(user_id=None), Form.FILE, 1, 10 * MiB)
    assert text.startswith("Your video is ready! 🎬 Task #42")
    assert "<@" not in text and is_result_text(text, 42)


def test_result_text_is_recognised_for_its_own_task_only() -> None:
    text = result_text(make_task(), Form.FILE, 1, 10 * MiB)
    assert is_result_text(text, 42)
    assert not is_result_text(text, 4)
    assert not is_result_text(text.replace("#42", "#420"), 42)
    assert not is_result_text("Task #42 · /task id:42", 42)


@pytest.mark.parametrize(
    ("shown", "current", "worth"),
    [
        (None, 40, True),
        (5, 4, True),
        (11, 10, True),
        (5, 5, False),
        (300, 299, False),
        (300, 220, True),
        (40, 30, True),
        (40, 38, False),
    ],
)
def test_only_meaningful_moves_in_the_queue_are_shown(
    shown: int | None, current: int, worth: bool
) -> None:
    assert position_worth_an_edit(shown, current) is worth

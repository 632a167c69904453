"""/video video: a member's clip, checked twice, lent to Discord, fetched by the API, rerun later.

Real clips are encoded at test time with PyAV; the fake CometAPI fetches every `video_url` and
refuses what Kling would (an expired URL, a clip breaking Kling's limits), and the fake Discord
signs and expires attachment URLs like Discord.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.clip_maker import make_clip
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Perm
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.messages import Message
from bot.fakes.discord.testing import private_text, reply_to, result_of
from tests.helpers.images import png

SETTLE_S = 30  # a guard against hangs, not a speed assertion
DAY_S = 24 * 3600


async def clip(tmp_path: Path, name: str = "clip.mp4", **options: Any) -> Attachment:
    path = await asyncio.to_thread(make_clip, tmp_path / name, **options)
    return Attachment.from_path(path, content_type="video/mp4")


async def edit_and_wait(fake_discord: FakeDiscord, video: Attachment) -> tuple[Message, Message]:
    """Alice edits a clip; the status message and the delivered result."""
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="snow in <<<video_1>>>", video=video)
    await itx.wait_ack()
    assert itx.original is not None
    return itx.original, await result_of(fake_discord, itx.original.id)


async def test_an_edit_sends_a_fresh_url_of_the_lent_clip_and_no_duration(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="make it snow in <<<video_1>>>", video=await clip(tmp_path)
    )
    await itx.wait_ack()
    status = itx.original
    assert status is not None
    result = await reply_to(fake_discord, status.id)
    assert result.attachments
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    (video,) = create.body["video_list"]
    assert video["refer_type"] == "base"
    assert video["keep_original_sound"] == "no"
    assert "duration" not in create.body and "aspect_ratio" not in create.body
    assert create.body["sound"] == "off"
    # The clip the API fetched is the bot's own copy, attached to the task's status message.
    (held,) = fake_discord.state.messages[status.id].attachments
    assert held.filename.startswith("kling-clip-") and held.filename.endswith(".mp4")
    assert f"/{held.id}/" in video["video_url"]
    (fetch,) = fake_comet.video_fetches
    assert fetch.status == 200 and fetch.refusal is None
    assert fetch.facts is not None and (fetch.facts.width, fetch.facts.duration_s) == (720, 3.0)


async def test_a_reference_keeps_the_sound_and_sends_shape_and_length(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video",
        prompt="a cat moving like <<<video_1>>>",
        video=await clip(tmp_path, with_audio=True),
        video_use="reference",
        keep_sound=True,
        duration=7,
    )
    await itx.wait_ack()
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    (video,) = create.body["video_list"]
    assert (video["refer_type"], video["keep_original_sound"]) == ("feature", "yes")
    assert (create.body["duration"], create.body["aspect_ratio"]) == ("7", "16:9")


@pytest.mark.parametrize(
    ("name", "options", "sentence"),
    [
        ("short.mp4", {"seconds": 2.4}, "`video` is 2.4 s long; Kling needs 3 to 10 s"),
        ("long.mp4", {"seconds": 11}, "`video` is 11.0 s long; Kling needs 3 to 10 s"),
        ("small.mp4", {"width": 640, "height": 480}, "`video` is 640×480 px; Kling needs each"),
        ("slow.mp4", {"fps": 20}, "`video` runs at 20 fps; Kling needs 24 to 60 fps"),
    ],
)
async def test_a_clip_kling_would_refuse_is_withdrawn_after_the_probe_and_refunded(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    tmp_path: Path,
    name: str,
    options: dict[str, Any],
    sentence: str,
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="edit <<<video_1>>>", video=await clip(tmp_path, name, **options)
    )
    assert sentence in await private_text(itx)
    (task,) = await kling_bot.services.store.list_tasks()
    assert task.state is TaskState.REJECTED
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert sum(e.credits for e in ledger) == 0
    assert fake_comet.creates() == []


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"sound": True}, "`sound` can't be on when a video is used"),
        (
            {**{f"image_{n}": None for n in range(1, 5)}, "elements": "123"},
            "Images and elements together may be at most 4 when a video is used",
        ),
        ({"duration": 5}, "`duration` can't be set when editing a video"),
        ({"aspect_ratio": "9:16"}, "`aspect_ratio` can't be set here"),
    ],
)
async def test_options_kling_forbids_with_a_clip_are_refused_before_any_charge(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    tmp_path: Path,
    options: dict[str, Any],
    sentence: str,
) -> None:
    given = {
        k: (Attachment(f"{k}.png", png(400, 400)) if v is None else v) for k, v in options.items()
    }
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="edit <<<video_1>>>", video=await clip(tmp_path), **given
    )
    assert sentence in await private_text(itx)
    assert await kling_bot.services.store.list_tasks() == []
    assert fake_comet.creates() == []


async def test_a_webm_is_refused_from_its_name_before_any_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    webm = Attachment("clip.webm", b"\x1a\x45\xdf\xa3 not really", content_type="video/webm")
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="edit <<<video_1>>>", video=webm
    )
    assert "`video` must be an MP4 or MOV clip; 'clip.webm' is not" in await private_text(itx)
    assert await kling_bot.services.store.list_tasks() == []


async def test_a_clip_over_the_channels_upload_limit_is_refused_before_any_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    big = Attachment("big.mp4", b"\0" * (10 * 1024 * 1024 + 1), content_type="video/mp4")
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="edit <<<video_1>>>", video=big
    )
    answer = await private_text(itx)
    # 10 MiB + 1 byte against the channel's 10 MiB: the sizes never read the same.
    assert "`video` is 10.485761 MB; the bot re-posts your clip" in answer
    assert "files here may be at most 10.485760 MB" in answer
    assert await kling_bot.services.store.list_tasks() == []


async def test_a_rerun_days_later_sends_a_freshly_signed_url_and_never_an_expired_one(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    _, result = await edit_and_wait(fake_discord, await clip(tmp_path))
    fake_discord.clock.advance(7 * DAY_S)  # every URL signed so far is long dead
    await alice.react(result.id, "🔁")
    rerun_status = await reply_to(fake_discord, result.id)
    await reply_to(fake_discord, rerun_status.id)
    first, second = fake_comet.accepted_creates()
    assert isinstance(first.body, dict) and isinstance(second.body, dict)
    one, two = (b["video_list"][0] for b in (first.body, second.body))
    assert (one["refer_type"], two["refer_type"]) == ("base", "base")
    assert one["video_url"] != two["video_url"]  # signed again
    assert [f.status for f in fake_comet.video_fetches] == [200, 200]
    assert all(fake_discord.state.cdn.url_is_valid(f.url) for f in fake_comet.video_fetches[1:])


async def test_a_rerun_after_the_clip_message_was_deleted_lends_the_kept_copy_again(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    status, result = await edit_and_wait(fake_discord, await clip(tmp_path))
    fake_discord.state.delete_message(fake_discord.state.messages[status.id])
    fake_discord.clock.advance(2 * DAY_S)
    await alice.react(result.id, "🔁")
    rerun_status = await reply_to(fake_discord, result.id)
    await reply_to(fake_discord, rerun_status.id)
    assert len(fake_comet.accepted_creates()) == 2
    assert [f.refusal for f in fake_comet.video_fetches] == [None, None]
    (lent,) = fake_discord.state.messages[rerun_status.id].attachments
    assert lent.filename.startswith("kling-clip-")


async def test_edit_with_kling_on_a_result_makes_an_edit_that_remembers_its_parent(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    # Kling's results are 720p or more; the fake's default sample is smaller than a clip may be.
    await fake_comet.use_result_file(await asyncio.to_thread(make_clip, tmp_path / "r.mp4"))
    alice = fake_discord.member(fake_discord.default.alice)
    first = await alice.run("video", prompt="a paper boat in the rain")
    await first.wait_ack()
    assert first.original is not None
    result = await reply_to(fake_discord, first.original.id)
    menu = await alice.run_message_command("Edit with Kling", result.id)
    await menu.wait_ack()
    assert menu.modal is not None
    fields = {
        c["component"]["custom_id"] if "component" in c else c["components"][0]["custom_id"]: c
        for c in menu.modal["components"]
    }
    prompt_id, use_id, sound_id = list(fields)
    submitted = await menu.submit_modal(
        {prompt_id: "make it snow in <<<video_1>>>", use_id: "edit", sound_id: "no"}
    )
    await submitted.wait_ack()
    assert submitted.original is not None
    await reply_to(fake_discord, submitted.original.id)
    _, edit = fake_comet.accepted_creates()
    assert isinstance(edit.body, dict)
    assert edit.body["video_list"][0]["refer_type"] == "base"
    store = kling_bot.services.store
    parent, made = sorted(await store.list_tasks(), key=lambda t: t.id)
    assert made.edited_from == parent.id
    assert made.state in (TaskState.DELIVERING, TaskState.DELIVERED)  # its result is posted
    details = await alice.run("task", id=made.id)
    (shown, *_) = await details.wait_response()
    family = [f for f in shown.embeds[0]["fields"] if f["name"] == "Family"]
    assert family and f"An edit of [#{parent.id}]" in family[0]["value"]
    assert f"/{result.id})" in family[0]["value"]  # the parent's result, linked


async def test_edit_with_kling_on_a_message_without_a_clip_says_so(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    first = await alice.run("video", prompt="a paper boat in the rain")
    await first.wait_ack()
    assert first.original is not None
    menu = await alice.run_message_command("Edit with Kling", first.original.id)
    assert "That message has no MP4 or MOV clip to edit" in await private_text(menu)
    assert len(await kling_bot.services.store.list_tasks()) == 1


async def test_discord_failing_to_sign_the_clip_again_puts_the_task_back_in_line(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    refused = fake_discord.inject_error(
        "/channels/{channel_id}/messages/{message_id}", method="GET", status=503
    )
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="snow in <<<video_1>>>", video=await clip(tmp_path)
    )
    await itx.wait_ack()
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id)
    assert refused.hits  # the first look at the clip's message failed…
    (task,) = await kling_bot.services.store.list_tasks()
    # …and the task waited its turn instead of failing: its result is in the channel.
    assert task.state in (TaskState.DELIVERING, TaskState.DELIVERED)
    assert len(fake_comet.accepted_creates()) == 1
    events = await kling_bot.services.store.task_events(task.id)
    assert any(
        e.to_state is TaskState.QUEUED and e.from_state is TaskState.SUBMITTING for e in events
    )


async def test_a_clip_where_the_bot_cannot_attach_files_is_refused_before_any_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    fake_discord.set_overwrite(
        fake_discord.default.general, fake_discord.default.bot_member, deny=Perm.ATTACH_FILES
    )
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="snow in <<<video_1>>>", video=await clip(tmp_path)
    )
    answer = await private_text(itx)
    assert "it re-posts your clip on the task's message" in answer
    assert "missing **Attach Files** in this channel" in answer
    assert await kling_bot.services.store.list_tasks() == []
    assert fake_comet.creates() == []

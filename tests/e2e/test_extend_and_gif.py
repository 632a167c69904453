"""▶ Extend, ✏️ Extend… and GIF under a result, through the real bot on the fake Discord.

Kling's results are 720p or more; the fake CometAPI's default sample is 320×180, smaller than
Kling takes as a clip to continue, so the extension tests serve a real 720×720 clip made with
PyAV as every result. The fake CometAPI fetches every `video_url` (here: the result message's
own attachment, freshly signed) and refuses what Kling would.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.domain.wording import jump_url
from bot.fakes.clip_maker import make_clip
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member, Message, Perm
from bot.fakes.discord.testing import private_text, replies_to, reply_to
from bot.fakes.harness import running_bot
from bot.features.clips import probe_clip
from bot.features.extend import NEXT_SHOT
from bot.settings import Settings
from tests.helpers.waits import eventually, task_reaches

SETTLE_S = 30  # a guard against hangs, not a speed assertion
ROOMY = {"quotas": {"max_in_flight_per_member": 5, "default_limit": 20}}


@pytest.fixture
async def kling_results(
    fake_comet: FakeCometAPI, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """Every result is a 3 s 720×720 clip, and the fake Discord keeps uploads whole."""
    clip = await asyncio.to_thread(make_clip, tmp_path / "kling-result.mp4")
    await fake_comet.use_result_file(clip)
    fake_discord.state.keep_upload_bytes = 8 * 1024 * 1024


async def posted_result(fake: FakeDiscord, bot: KlingBot, status: Message) -> Message:
    """The result replying to a status message, once its task is recorded delivered."""
    result = await reply_to(fake, status.id)
    [task] = [t for t in await bot.services.store.list_tasks() if t.status_message_id == status.id]
    await task_reaches(bot.services.store, task.id, TaskState.DELIVERED)
    return result


async def video(fake: FakeDiscord, bot: KlingBot, who: Member, prompt: str) -> Message:
    """`/video` as `who`; its posted result."""
    itx = await fake.member(who).run("video", prompt=prompt)
    await itx.wait_ack()
    assert itx.original is not None
    return await posted_result(fake, bot, itx.original)


def button_id(message: Message, label: str) -> str:
    for row in message.components:
        for button in row["components"]:
            if button.get("label") == label:
                return str(button["custom_id"])
    raise AssertionError(f"no {label!r} button on message {message.id}: {message.components}")


async def press(fake: FakeDiscord, who: Member, message: Message, label: str) -> Any:
    return await fake.member(who).click(message, button_id(message, label))


async def extended(fake: FakeDiscord, bot: KlingBot, who: Member, result: Message) -> Message:
    """▶ Extend as `who`; the extension's posted result."""
    pressed = await press(fake, who, result, "Extend")
    [status] = await pressed.wait_response()
    assert not status.is_ephemeral
    return await posted_result(fake, bot, status)


async def said_privately(handle: Any) -> str:
    """The private answer once it says something (a GIF first shows "thinking…")."""
    await eventually(lambda: any(m.is_ephemeral and m.content for m in handle.messages), SETTLE_S)
    return str([m for m in handle.messages if m.is_ephemeral and m.content][-1].content)


async def tasks_of(bot: KlingBot) -> list[TaskRecord]:
    return sorted(await bot.services.store.list_tasks(), key=lambda t: t.id)


def downloaded(fake: FakeDiscord, message: Message, filename: str, tmp_path: Path) -> Path:
    """An attachment of a message, as a member would save it."""
    [stored] = [a for a in fake.message(message.id).attachments if a.filename == filename]
    assert stored.is_complete
    path = tmp_path / f"saved-{filename}"
    path.write_bytes(stored.head)
    return path


def create_bodies(comet: FakeCometAPI) -> list[dict[str, Any]]:
    bodies = [c.body for c in comet.accepted_creates()]
    assert all(isinstance(b, dict) for b in bodies)
    return bodies  # type: ignore[return-value]


@pytest.mark.parametrize("bot_config", [ROOMY])
@pytest.mark.usefixtures("kling_results")
async def test_extend_continues_the_result_from_its_own_message_and_posts_the_chain_joined(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    world = fake_discord.default
    first = await video(fake_discord, kling_bot, world.alice, "a paper boat in the rain")
    [first_clip] = fake_discord.message(first.id).attachments
    second = await extended(fake_discord, kling_bot, world.alice, first)

    parent, child = await tasks_of(kling_bot)
    assert (child.parent_id, child.parent_kind, child.extends) == (
        parent.id,
        "extension",
        parent.id,
    )
    assert (child.user_id, child.cost) == (world.alice.id, 1)  # charged like any other
    body = create_bodies(fake_comet)[-1]
    assert body["prompt"] == NEXT_SHOT + "a paper boat in the rain"
    [sent] = body["video_list"]
    assert (sent["refer_type"], sent["keep_original_sound"]) == ("feature", "no")
    # The clip Kling fetched is the first result's own attachment, signed afresh.
    assert f"/{first_clip.id}/" in sent["video_url"]
    assert (body["duration"], body["aspect_ratio"], body["sound"]) == ("5", "16:9", "off")
    [fetch] = fake_comet.video_fetches
    assert (fetch.status, fetch.refusal) == (200, None)

    # A new message that links its parent, with the whole chain joined into one clip.
    names = [a.filename for a in fake_discord.message(second.id).attachments]
    assert names == [f"kling-{child.id}.mp4", f"kling-chain-{child.id}.mp4"]
    link = jump_url(world.guild.id, world.general.id, first.id)
    assert f"The next shot after #{parent.id} ({link})" in second.content
    assert f"#{parent.id} → #{child.id}" in second.content
    joined = downloaded(fake_discord, second, f"kling-chain-{child.id}.mp4", tmp_path)
    facts = await asyncio.to_thread(probe_clip, "chain", joined)
    assert (facts.width, round(facts.duration_s)) == (720, 6)  # two 3 s shots

    # /task shows the chain.
    shown = await (await fake_discord.member(world.alice).run("task", id=child.id)).wait_response()
    [family] = [f["value"] for f in shown[0].embeds[0]["fields"] if f["name"] == "Family"]
    assert f"An extension of [#{parent.id}]({link})" in family
    assert f"Chain: [#{parent.id}]({link}) → **#{child.id}**" in family


@pytest.mark.parametrize("bot_config", [ROOMY])
@pytest.mark.usefixtures("kling_results")
async def test_extend_form_asks_for_the_next_shot_and_a_chain_of_three_is_joined(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, tmp_path: Path
) -> None:
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat in the rain")
    opened = await press(fake_discord, alice, first, "Extend…")
    assert (await opened.wait_ack()).type == 9
    [(field_id, prefilled)] = opened.modal_fields().items()
    assert prefilled == "a paper boat in the rain"
    submitted = await opened.submit_modal({field_id: "the boat sails into a storm"})
    [status] = await submitted.wait_response()
    assert "Next shot · extension of #" in status.embeds[0]["title"]
    second = await posted_result(fake_discord, kling_bot, status)
    # ▶ Extend of an extension asks for its shot again, without doubling the wording.
    third = await extended(fake_discord, kling_bot, alice, second)

    prompts = [body["prompt"] for body in create_bodies(fake_comet)]
    assert prompts[1:] == [NEXT_SHOT + "the boat sails into a storm"] * 2
    one, two, three = await tasks_of(kling_bot)
    assert (two.extends, three.extends) == (one.id, two.id)
    assert f"#{one.id} → #{two.id} → #{three.id}" in third.content
    joined = downloaded(fake_discord, third, f"kling-chain-{three.id}.mp4", tmp_path)
    assert round((await asyncio.to_thread(probe_clip, "chain", joined)).duration_s) == 9


@pytest.mark.parametrize("bot_config", [{**ROOMY, "reruns": {"max_extensions": 1}}])
@pytest.mark.usefixtures("kling_results")
async def test_a_chain_stops_at_the_configured_number_of_extensions(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    second = await extended(fake_discord, kling_bot, alice, first)
    refused = await press(fake_discord, alice, second, "Extend")
    assert "a chain has at most 1 extension." in await private_text(refused)
    refused = await press(fake_discord, alice, second, "Extend…")
    assert "a chain has at most 1 extension." in await private_text(refused)
    assert len(await tasks_of(kling_bot)) == 2 and len(fake_comet.accepted_creates()) == 2


@pytest.mark.parametrize("bot_config", [ROOMY])
@pytest.mark.usefixtures("kling_results")
async def test_extend_refusals_are_private_sentences_and_charge_nothing(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    first = await video(fake_discord, kling_bot, world.alice, "a paper boat")
    for label in ("Extend", "Extend…", "GIF"):
        refused = await press(fake_discord, world.bob, first, label)
        assert (await private_text(refused)).startswith("Only the member who asked")
    # A double press of ▶ Extend makes one extension (whichever press the bot handles first).
    presses = [await press(fake_discord, world.alice, first, "Extend") for _ in range(2)]
    answers = [(await pressed.wait_response(SETTLE_S))[0] for pressed in presses]
    [status] = [message for message in answers if not message.is_ephemeral]
    [refusal] = [message for message in answers if message.is_ephemeral]
    assert "a moment ago" in refusal.content
    await posted_result(fake_discord, kling_bot, status)
    tasks = await tasks_of(kling_bot)
    assert len(tasks) == 2 and {t.user_id for t in tasks} == {world.alice.id}  # bob: no charge


async def test_a_result_kling_cannot_continue_is_refused_with_its_measure(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")  # the fake's 320×180
    refused = await press(fake_discord, alice, first, "Extend")
    text = await private_text(refused)
    assert "is 320×180 px; Kling continues videos of 720 to 2160 px a side" in text
    assert len(await tasks_of(kling_bot)) == 1 and len(fake_comet.accepted_creates()) == 1


@pytest.mark.usefixtures("kling_results")
async def test_a_result_posted_as_a_link_cannot_be_extended(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_discord.default.guild.upload_limit_bytes = 100_000  # the result is larger: a link
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    assert not fake_discord.message(first.id).attachments
    refused = await press(fake_discord, alice, first, "Extend")
    assert "posted as a link" in await private_text(refused)
    assert len(await tasks_of(kling_bot)) == 1


@pytest.mark.parametrize("bot_config", [ROOMY])
@pytest.mark.usefixtures("kling_results")
async def test_a_rerun_of_an_extension_whose_parent_was_deleted_lends_the_kept_copy(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    second = await extended(fake_discord, kling_bot, alice, first)
    removed = await press(fake_discord, alice, first, "Delete")
    assert "Removed the video" in await private_text(removed)
    pressed = await press(fake_discord, alice, second, "Rerun")
    [status] = await pressed.wait_response()
    await posted_result(fake_discord, kling_bot, status)
    # The first result's message is gone: its kept copy was lent on the rerun's status message.
    [lent] = fake_discord.message(status.id).attachments
    parent = (await tasks_of(kling_bot))[0]
    assert lent.filename == f"kling-{parent.id}.mp4"
    assert [f.refusal for f in fake_comet.video_fetches] == [None, None]
    assert f"/{lent.id}/" in create_bodies(fake_comet)[-1]["video_list"][0]["video_url"]


async def test_gif_posts_a_gif_of_the_result_as_a_reply(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_discord.state.keep_upload_bytes = 8 * 1024 * 1024  # to look inside the GIF
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    [task] = await tasks_of(kling_bot)
    pressed = await press(fake_discord, alice, first, "GIF")
    assert "Posted the GIF" in await said_privately(pressed)
    [gif_message] = [m for m in replies_to(fake_discord, first.id)]
    [gif] = gif_message.attachments
    assert gif.filename == f"kling-{task.id}.gif" and gif.is_complete
    with Image.open(io.BytesIO(gif.head)) as image:
        assert image.format == "GIF" and image.n_frames > 10
        assert image.size == (320, 180)  # never larger than the video
    assert gif_message.pings().user_ids == frozenset()  # a reply that pings no one
    assert len(fake_comet.accepted_creates()) == 1  # nothing sent to Kling, nothing charged


async def test_gif_is_made_within_the_channels_upload_limit_or_refused(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    fake_discord.default.guild.upload_limit_bytes = 60_000  # below even the smallest GIF
    pressed = await press(fake_discord, alice, first, "GIF")
    assert "Even a small GIF of this video would be larger than" in await said_privately(pressed)
    assert replies_to(fake_discord, first.id) == []

    fake_discord.default.guild.upload_limit_bytes = 300_000
    fake_discord.state.keep_upload_bytes = 300_000
    pressed = await press(fake_discord, alice, first, "GIF")
    assert "Posted the GIF" in await said_privately(pressed)
    [gif_message] = replies_to(fake_discord, first.id)
    [gif] = gif_message.attachments
    assert gif.size_bytes <= 300_000 and gif.is_complete
    with Image.open(io.BytesIO(gif.head)) as image:
        assert image.size[0] < 320  # scaled down to fit


@pytest.mark.parametrize("bot_config", [{"reruns": {"allow": "anyone"}}])
async def test_gif_for_anyone_when_reruns_allow_anyone(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    first = await video(fake_discord, kling_bot, world.alice, "a paper boat")
    pressed = await press(fake_discord, world.bob, first, "GIF")
    assert "Posted the GIF" in await said_privately(pressed)
    await eventually(lambda: len(replies_to(fake_discord, first.id)) == 1)


@pytest.mark.parametrize("bot_config", [ROOMY])
@pytest.mark.usefixtures("kling_results")
async def test_extend_and_gif_work_after_the_bot_restarted(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    alice = fake_discord.default.alice
    async with running_bot(fake_discord, bot_settings) as bot:
        first = await video(fake_discord, bot, alice, "a paper boat")

    async with running_bot(fake_discord, bot_settings) as bot:
        pressed = await press(fake_discord, alice, first, "GIF")
        assert "Posted the GIF" in await said_privately(pressed)
        second = await extended(fake_discord, bot, alice, first)
        parent, child = await tasks_of(bot)
    assert child.extends == parent.id
    assert len(fake_discord.message(second.id).attachments) == 2


async def test_gif_of_a_result_the_bot_no_longer_keeps_is_made_from_its_attachment(
    fake_discord: FakeDiscord, bot_settings: Settings, kling_bot: KlingBot
) -> None:
    fake_discord.state.keep_upload_bytes = 8 * 1024 * 1024  # the result can be downloaded
    alice = fake_discord.default.alice
    first = await video(fake_discord, kling_bot, alice, "a paper boat")
    [task] = await tasks_of(kling_bot)
    kept = bot_settings.storage.media_dir / "results" / f"task-{task.id}.mp4"
    await asyncio.to_thread(kept.unlink)  # as retention does after storage.keep_media_days
    [attachment] = fake_discord.message(first.id).attachments
    pressed = await press(fake_discord, alice, first, "GIF")
    assert "Posted the GIF" in await said_privately(pressed)
    assert attachment.id in fake_discord.state.cdn.downloads
    [gif_message] = replies_to(fake_discord, first.id)
    assert gif_message.attachments[0].filename == f"kling-{task.id}.gif"


async def test_gif_where_the_bot_may_not_attach_files_is_refused_privately(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    first = await video(fake_discord, kling_bot, world.alice, "a paper boat")
    fake_discord.set_overwrite(world.general, world.bot_member, deny=Perm.ATTACH_FILES)
    pressed = await press(fake_discord, world.alice, first, "GIF")
    assert "needs **Attach Files**" in await private_text(pressed)
    assert replies_to(fake_discord, first.id) == []

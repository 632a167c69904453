"""Animate with Kling (auto and manual) on any picture, and `/video loop:true`."""

from __future__ import annotations

import base64

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.testing import private_text, reply_to
from tests.helpers.images import png


async def test_animate_auto_makes_a_first_frame_video_of_the_picture_with_the_defaults(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    picture = png(640, 360)
    bob = fake_discord.member(fake_discord.default.bob)
    posted = await bob.post("look", files=(Attachment("cat.png", picture),))
    alice = fake_discord.member(fake_discord.default.alice)
    menu = await alice.run_message_command("Animate with Kling", posted.id)
    await menu.wait_ack()
    assert menu.original is not None
    await reply_to(fake_discord, menu.original.id)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    (frame,) = create.body["image_list"]
    assert frame["type"] == "first_frame" and base64.b64decode(frame["image_url"]) == picture
    assert "aspect_ratio" not in create.body and create.body["duration"] == "5"


async def test_animate_manually_with_a_loop_sends_the_picture_as_both_frames(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    picture = png(640, 360)
    bob = fake_discord.member(fake_discord.default.bob)
    posted = await bob.post(files=(Attachment("cat.png", picture),))
    alice = fake_discord.member(fake_discord.default.alice)
    menu = await alice.run_message_command("Animate with Kling…", posted.id)
    await menu.wait_ack()
    assert menu.modal is not None
    ids = [
        c["component"]["custom_id"] if "component" in c else c["components"][0]["custom_id"]
        for c in menu.modal["components"]
    ]
    submitted = await menu.submit_modal({ids[0]: "the cat blinks", ids[1]: "yes"})
    await submitted.wait_ack()
    assert submitted.original is not None
    await reply_to(fake_discord, submitted.original.id)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    assert create.body["prompt"] == "the cat blinks"
    first, end = create.body["image_list"]
    assert (first["type"], end["type"]) == ("first_frame", "end_frame")
    assert first["image_url"] == end["image_url"]
    assert base64.b64decode(first["image_url"]) == picture


async def test_animate_on_a_message_without_a_picture_says_so(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    posted = await fake_discord.member(fake_discord.default.bob).post("hi")
    menu = await fake_discord.member(fake_discord.default.alice).run_message_command(
        "Animate with Kling", posted.id
    )
    assert "That message has no PNG or JPEG picture to animate" in await private_text(menu)
    assert fake_comet.creates() == []


async def test_loop_without_a_first_frame_is_refused_before_any_charge(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="a spinning top", loop=True
    )
    assert "`loop` needs a `first_frame`" in await private_text(itx)
    assert await kling_bot.services.store.list_tasks() == []


async def test_loop_with_reference_images_is_refused_with_a_sentence(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video",
        prompt="a spinning top",
        loop=True,
        first_frame=Attachment("f.png", png(400, 400)),
        image_1=Attachment("r.png", png(400, 400)),
    )
    assert "A loop can't use reference images" in await private_text(itx)
    assert await kling_bot.services.store.list_tasks() == []

"""/video with images: checked, kept by the bot, sent as base64, and rerun after the CDN forgets."""

from __future__ import annotations

import base64

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.testing import private_text, reply_to, result_of
from tests.helpers.images import cut_short, noise_image, one_bit_png, png

SETTLE_S = 30  # a guard against hangs, not a speed assertion
DAY_S = 24 * 3600


async def test_images_are_kept_and_sent_as_base64(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    cat, start = png(400, 400, "orange"), png(640, 360, "navy")
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video",
        prompt="<<<image_1>>> walks into the scene",
        image_1=Attachment("cat.png", cat),
        first_frame=Attachment("start.png", start),
    )
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    assert result.attachments
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    images = create.body["image_list"]
    assert [base64.b64decode(i["image_url"]) for i in images] == [cat, start]
    assert [i.get("type") for i in images] == [None, "first_frame"]
    assert "aspect_ratio" not in create.body  # the first frame sets the shape


async def test_a_small_image_is_refused_at_once_from_its_size(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="a tiny picture", image_1=Attachment("tiny.png", png(100, 100))
    )
    text = await private_text(itx)
    assert "`image_1` is 100×100 px; images need at least 300 px on each side" in text
    assert await kling_bot.services.store.list_tasks() == []  # refused before anything
    assert fake_comet.creates() == []


async def test_a_file_that_is_not_an_image_is_refused_after_download_and_refunded(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="a fake picture", image_1=Attachment("photo.png", b"not a picture at all")
    )
    text = await private_text(itx)
    assert "`image_1` is not a readable PNG or JPEG image" in text
    (task,) = await kling_bot.services.store.list_tasks()
    assert task.state is TaskState.REJECTED
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert sum(e.credits for e in ledger) == 0
    assert fake_comet.creates() == []


async def test_an_image_cut_short_is_refused_after_download_and_refunded(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    truncated = cut_short(noise_image(640, 480))  # the header (and its 640×480) is intact
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="a cut picture", image_1=Attachment("photo.png", truncated)
    )
    text = await private_text(itx)
    assert "`image_1` is not a readable PNG or JPEG image" in text
    (task,) = await kling_bot.services.store.list_tasks()
    assert task.state is TaskState.REJECTED
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert sum(e.credits for e in ledger) == 0
    assert fake_comet.creates() == []


async def test_a_tiny_file_of_huge_pixels_is_refused_with_its_size_and_the_limit(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    bomb = one_bit_png(15000, 15000)  # 27 KB; 225 megapixels once unpacked
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="a huge picture", first_frame=Attachment("bomb.png", bomb)
    )
    text = await private_text(itx)
    assert (
        "`first_frame` is 15000×15000 px (225 megapixels); images may have at most 50 megapixels."
        in text
    )
    assert await kling_bot.services.store.list_tasks() == []  # refused before any charge
    assert fake_comet.creates() == []


async def test_a_rerun_days_later_uses_the_kept_images(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    cat = png(400, 400, "orange")
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "video", prompt="<<<image_1>>> dances", image_1=Attachment("cat.png", cat)
    )
    await itx.wait_ack()
    assert itx.original is not None
    result = await result_of(fake_discord, itx.original.id)
    fake_discord.clock.advance(2 * DAY_S)  # Discord's signed attachment URLs are long dead
    await fake_discord.member(fake_discord.default.alice).react(result.id, "🔁")
    status = await reply_to(fake_discord, result.id)
    await reply_to(fake_discord, status.id)
    first, second = fake_comet.accepted_creates()
    assert isinstance(first.body, dict) and isinstance(second.body, dict)
    assert first.body["image_list"] == second.body["image_list"]
    assert base64.b64decode(second.body["image_list"][0]["image_url"]) == cat

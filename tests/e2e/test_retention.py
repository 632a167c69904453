"""Media retention in the running bot: old inputs go, and a rerun that needed them says so."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.testing import assert_pings, reply_to
from tests.helpers.waits import task_reaches


def png(width: int, height: int) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(data, format="PNG")
    return data.getvalue()


@pytest.mark.parametrize("bot_config", [{"storage": {"keep_media_days": 7}}])
async def test_a_rerun_whose_images_were_removed_is_refused_with_a_sentence(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run(
        "video", prompt="<<<image_1>>> walks in", image_1=Attachment("cat.png", png(400, 400))
    )
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    services = kling_bot.services
    await task_reaches(services.store, 1, TaskState.DELIVERED)
    assert services.retention is not None
    kept = services.settings.storage.media_dir / "inputs"
    assert [p.name for p in kept.iterdir()] == ["1"]

    assert (await services.retention.run_once()).removed == ()  # a week has not passed
    eight_days_later = datetime.now(UTC) + timedelta(days=8)
    done = await services.retention.run_once(now=eight_days_later)
    assert sorted(str(e.relative) for e in done.removed) == ["inputs/1", "results/task-1.mp4"]

    await alice.react(result.id, "🔁")
    notice = await reply_to(fake_discord, result.id)
    assert (
        "Task #1 can't be made again: the bot keeps members' images for 7 days and `image_1` "
        "was removed. Start a new `/video` with the images attached."
    ) in notice.content
    assert_pings(notice, users={fake_discord.default.alice.id})
    assert len(await services.store.list_tasks()) == 1  # nothing charged, nothing queued
    assert len(fake_comet.accepted_creates()) == 1

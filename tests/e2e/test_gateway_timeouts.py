"""A gateway timeout (524) on a member's create: the video still comes, once, charged once."""

from __future__ import annotations

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI, FaultKind
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to


@pytest.mark.parametrize(
    ("is_task_made", "can_look_up"),
    [
        (False, False),  # the gateway gave up before Kling made it; CometAPI can't look it up
        (True, True),  # Kling made it before the gateway gave up; a lookup finds it
    ],
    ids=["524 before the task was made", "524 after the task was made"],
)
async def test_a_524_on_create_still_posts_one_video(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    is_task_made: bool,
    can_look_up: bool,
) -> None:
    fake_comet.config.lookup_by_external_id = can_look_up
    fake_comet.inject(FaultKind.TIMEOUT_524, route="create", after_handling=is_task_made)
    itx = await fake_discord.member(fake_discord.default.alice).run("video", prompt="a kite")
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    assert [a.filename.endswith(".mp4") for a in result.attachments] == [True]
    (task,) = await kling_bot.services.store.list_tasks()
    # The create was sent again with the same external_task_id: made then, or refused as a
    # duplicate because the first one had made it. Either way the API has exactly one task.
    sent = fake_comet.creates()
    assert [r.body["external_task_id"] for r in sent if isinstance(r.body, dict)] == [
        task.external_id
    ] * 2
    assert [r.status for r in sent] == [524, 400 if is_task_made else 200]
    assert list(fake_comet.tasks) == [task.api_task_id]
    ledger = await kling_bot.services.store.ledger_for_task(task.id)
    assert [(e.kind, e.credits) for e in ledger] == [("charge", 1)]
    events = [e.to_state for e in await kling_bot.services.store.task_events(task.id)]
    assert (TaskState.AMBIGUOUS in events) == is_task_made  # only a duplicate needs a lookup

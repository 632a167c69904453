"""Omni callbacks end to end: the fake CometAPI calls the bot's HTTP server back.

A callback is a hint: the bot checks its token, queries the task at once and acts on the query.
Forged and replayed callbacks are refused with 403 and change nothing; repeats bring no news;
lost callbacks are found by the sparse polling that stays as a safety net.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.cli.online_check import check_callback_url
from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskRecord
from bot.engine.clock import ScaledClock
from bot.fakes.comet import CREATE_PATH, FakeCometAPI, FakeCometConfig
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to
from bot.fakes.harness import running_bot, settings_for
from tests.helpers.waits import task_reaches

SETTLE_S = 30  # a guard against hangs, not a speed assertion


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_callbacks(port: int) -> dict[str, dict[str, Any]]:
    return {
        "http": {"listen": f"127.0.0.1:{port}"},
        "omni": {"callback_url": f"http://127.0.0.1:{port}/omni/callback"},
    }


@pytest.fixture
def bot_config() -> dict[str, dict[str, Any]]:
    return with_callbacks(free_port())


@pytest.fixture
async def fake_comet() -> AsyncIterator[FakeCometAPI]:
    """Tasks run until the test ends them: only a callback (or the safety net) can tell."""
    config = FakeCometConfig(submitted_s=0.05, processing_s=float("inf"))
    async with FakeCometAPI(config) as comet:
        yield comet


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def until(check: Any) -> None:
    async def wait() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), SETTLE_S)


async def started_task(bot: KlingBot, fake_comet: FakeCometAPI) -> tuple[TaskRecord, str]:
    """Wait until the bot's newest task runs at the API; return it and the API's task id."""
    store = bot.services.store

    async def processing() -> bool:
        tasks = await store.list_tasks()
        return bool(tasks) and tasks[0].state is TaskState.PROCESSING

    await until(processing)
    task = (await store.list_tasks())[0]
    assert task.api_task_id is not None
    return task, task.api_task_id


def queries_about(fake_comet: FakeCometAPI, api_task_id: str) -> int:
    return sum(
        1
        for r in fake_comet.requests
        if r.method == "GET" and r.path.startswith(CREATE_PATH) and r.task_id == api_task_id
    )


def noticed_via(bot: KlingBot, via: str) -> float:
    sample = bot.services.metrics.registry.get_sample_value(
        "kling_bot_completion_noticed_seconds_count", {"via": via}
    )
    return sample or 0.0


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
async def test_a_callback_makes_the_bot_ask_at_once_and_deliver(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot, shape: str
) -> None:
    fake_comet.config.callback_shape = shape  # type: ignore[assignment]
    itx = await fake_discord.member(fake_discord.default.alice).run("video", prompt="a boat")
    await itx.wait_ack()
    task, api_task_id = await started_task(kling_bot, fake_comet)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    signed = kling_bot.settings.omni.callback_url + f"/{task.external_id}."
    assert str(create.body["callback_url"]).startswith(signed)
    assert kling_bot.services.engine.tracker.uses_callbacks
    before = queries_about(fake_comet, api_task_id)

    fake_comet.finish(api_task_id)  # Kling posts "succeed"; nothing else would ask soon
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    assert result.attachments
    assert queries_about(fake_comet, api_task_id) == before + 1  # the one the callback asked for
    assert noticed_via(kling_bot, "callback") == 1
    assert noticed_via(kling_bot, "poll") == 0
    answers = [p.status for p in fake_comet.callbacks.posts]
    assert answers == [200, 200, 200]  # submitted (no news), processing, succeed
    accepted = kling_bot.services.metrics.registry.get_sample_value(
        "kling_bot_callbacks_total", {"outcome": "accepted"}
    )
    assert accepted == 3


async def post(http: aiohttp.ClientSession, url: str, body: object) -> int:
    async with http.post(url, json=body) as response:
        return response.status


async def test_forged_replayed_and_repeated_callbacks_change_nothing(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    http: aiohttp.ClientSession,
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run("video", prompt="a boat")
    await itx.wait_ack()
    task, api_task_id = await started_task(kling_bot, fake_comet)
    url = str(fake_comet.accepted_creates()[0].body["callback_url"])  # type: ignore[index]
    base, token = url.rsplit("/", 1)
    succeed = {"task_id": api_task_id, "task_status": "succeed", "task_info": {}}
    processing = {**succeed, "task_status": "processing"}
    before = queries_about(fake_comet, api_task_id)

    other = "kob-" + "0" * 32
    forged_urls = [
        f"{base}/{other}.{token.rsplit('.', 1)[1]}",  # another task's id, this signature
        f"{base}/{task.external_id}.{'A' * 32}",
        f"{base}/{task.external_id}",
    ]
    for forged in forged_urls:
        assert await post(http, forged, succeed) == 403
    wrong_task = {**succeed, "task_id": "999999999999999999"}
    assert await post(http, url, wrong_task) == 403  # the body names another task
    wrong_external = {**succeed, "task_info": {"external_task_id": other}}
    assert await post(http, url, wrong_external) == 403
    assert await post(http, url, ["not", "a", "task"]) == 400
    for _ in range(5):  # Kling may repeat itself: the bot knows it runs, no query
        assert await post(http, url, processing) == 200
    assert queries_about(fake_comet, api_task_id) == before
    assert (await kling_bot.services.store.get_task(task.id)).state is TaskState.PROCESSING
    forbidden = kling_bot.services.metrics.registry.get_sample_value(
        "kling_bot_callbacks_total", {"outcome": "forbidden"}
    )
    assert forbidden == 5

    fake_comet.finish(api_task_id)
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id)
    await task_reaches(kling_bot.services.store, task.id, TaskState.DELIVERED)
    settled = queries_about(fake_comet, api_task_id)
    # Replays after the end (and an old status arriving late) are refused and ask nothing.
    assert await post(http, url, succeed) == 403
    assert await post(http, url, processing) == 403
    assert queries_about(fake_comet, api_task_id) == settled
    (done,) = await kling_bot.services.store.list_tasks()
    assert done.state is TaskState.DELIVERED


async def test_lost_callbacks_are_found_by_the_safety_net(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path
) -> None:
    fake_comet.config.skip_callbacks = True  # the API can't reach the callback URL
    settings = settings_for(
        fake_discord, fake_comet, tmp_path / "data", **with_callbacks(free_port())
    )
    # A faster clock than the other tests': the safety net looks when a task should be done.
    async with running_bot(fake_discord, settings, clock=ScaledClock(0.01)) as bot:
        tracker = bot.services.engine.tracker
        alice = fake_discord.member(fake_discord.default.alice)
        for number in range(3):
            itx = await alice.run("video", prompt=f"boat {number}")
            await itx.wait_ack()
            task, api_task_id = await started_task(bot, fake_comet)
            fake_comet.finish(api_task_id)
            assert itx.original is not None
            await reply_to(fake_discord, itx.original.id)
            await until(lambda: _done(bot))
            assert (await bot.services.store.get_task(task.id)).state is TaskState.DELIVERED
            assert tracker.uses_callbacks is (number < 2)
        assert noticed_via(bot, "poll") == 3 and noticed_via(bot, "callback") == 0
        assert tracker.callback_misses == 3
        assert not tracker.uses_callbacks  # three ends without a callback: dense polling again
        assert all(post.skipped for post in fake_comet.callbacks.posts)


async def _done(bot: KlingBot) -> bool:
    return all(t.is_terminal for t in await bot.services.store.list_tasks())


async def test_check_online_says_whether_the_callback_url_reaches_the_bot(
    fake_comet: FakeCometAPI, kling_bot: KlingBot, http: aiohttp.ClientSession
) -> None:
    settings = kling_bot.settings
    result = await check_callback_url(settings.omni.callback_url, http)
    assert result.is_ok and "reaches a running kling-bot" in result.message
    wrong_path = await check_callback_url(fake_comet.base_url + "/kling", http)
    assert not wrong_path.is_ok and "answered 404, not a kling-bot" in wrong_path.message
    nobody = await check_callback_url("http://127.0.0.1:9/omni/callback", http)
    assert not nobody.is_ok and "can't be reached from here" in nobody.message
    assert fake_comet.creates() == []  # the probes never reach the API

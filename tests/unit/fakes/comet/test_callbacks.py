"""The fake CometAPI posts callbacks like Kling: each status change, flat or wrapped, or none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.fakes.comet import CREATE_PATH, FakeCometAPI, FakeCometConfig

SETTLE_S = 30  # a guard against hangs, not a speed assertion


class Receiver:
    """A loopback endpoint that records what is posted to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.changed = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cb/{token}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/cb/the-token"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.changed.set()
        return web.json_response({"status": "ok"})

    async def wait_for(self, count: int) -> None:
        async def wait() -> None:
            while len(self.bodies) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), SETTLE_S)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.stop()


async def create(fake: FakeCometAPI, callback_url: str) -> str:
    body = {
        "model_name": "kling-video-o1",
        "prompt": "a boat",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "external_task_id": "ext-1",
        "callback_url": callback_url,
    }
    headers = {"Authorization": f"Bearer {fake.config.api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(fake.base_url + CREATE_PATH, json=body, headers=headers) as response,
    ):
        assert response.status == 200
        task_id: str = (await response.json())["data"]["task_id"]
        return task_id


async def test_each_status_change_is_posted_flat(receiver: Receiver) -> None:
    config = FakeCometConfig(submitted_s=0.05, processing_s=float("inf"))
    async with FakeCometAPI(config) as fake:
        task_id = await create(fake, receiver.url)
        await receiver.wait_for(2)  # submitted at once, processing after T1
        fake.finish(task_id)  # wakes the waiter: no timer was due
        await receiver.wait_for(3)
        posts = fake.callbacks.posts
    assert [b["task_status"] for b in receiver.bodies] == ["submitted", "processing", "succeed"]
    final = receiver.bodies[-1]
    assert final["task_id"] == task_id
    assert final["task_info"] == {"external_task_id": "ext-1"}
    assert final["task_result"]["videos"][0]["url"].endswith(f"/files/{task_id}.mp4")
    assert [p.status for p in posts] == [200, 200, 200]


async def test_the_wrapped_variant_and_the_skip_flag(receiver: Receiver) -> None:
    config = FakeCometConfig(submitted_s=0.0, processing_s=0.05, callback_shape="wrapped")
    async with FakeCometAPI(config) as fake:
        await create(fake, receiver.url)
        await receiver.wait_for(2)
        assert {"code", "message", "data"} <= set(receiver.bodies[-1])
        assert receiver.bodies[-1]["data"]["task_status"] == "succeed"

        fake.config.skip_callbacks = True
        fake.config.callback_shape = "flat"
        skipped = await create_second(fake, receiver.url)
        while not any(p.task_id == skipped and p.state == "succeed" for p in fake.callbacks.posts):
            await asyncio.sleep(0.01)
    assert len(receiver.bodies) == 2  # nothing more was delivered
    assert all(p.skipped for p in fake.callbacks.posts if p.task_id == skipped)


async def create_second(fake: FakeCometAPI, url: str) -> str:
    fake.config.reject_duplicate_external_id = False
    return await create(fake, url)


async def test_a_receiver_that_cannot_be_reached_is_recorded() -> None:
    config = FakeCometConfig(submitted_s=0.0, processing_s=0.0)
    async with FakeCometAPI(config) as fake:
        await create(fake, "http://127.0.0.1:9/unreachable")
        while not fake.callbacks.posts or not fake.callbacks.posts[-1].error:
            await asyncio.sleep(0.01)
        assert fake.callbacks.posts[-1].status is None

"""The three query shapes CometAPI has answered with (native, wrapper, wrapper3) and random mode."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.fakes.comet import CREATE_PATH, FakeCometAPI, FakeCometConfig

KEY = "sk-shapes"
BODY = {"model_name": "kling-video-o1", "prompt": "p", "aspect_ratio": "1:1", "duration": "5"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    config = FakeCometConfig(api_key=KEY, submitted_s=math.inf, processing_s=math.inf, seed=3)
    async with FakeCometAPI(config) as server:
        yield server


@pytest.fixture
async def http(fake: FakeCometAPI) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=headers) as session:
        yield session


async def new_task(http: aiohttp.ClientSession, **changes: Any) -> str:
    async with http.post(CREATE_PATH, json={**BODY, **changes}) as resp:
        assert resp.status == 200
        task_id: str = (await resp.json())["data"]["task_id"]
        return task_id


async def query(http: aiohttp.ClientSession, task_id: str) -> Any:
    async with http.get(f"{CREATE_PATH}/{task_id}") as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.mark.parametrize("shape", ["wrapper", "wrapper3"])
async def test_wrapper_lifecycle(
    fake: FakeCometAPI, http: aiohttp.ClientSession, shape: str
) -> None:
    fake.config.query_shape = shape  # type: ignore[assignment]
    task_id = await new_task(http, external_task_id="ext-w")

    def kling_data(answer: Any) -> Any:
        nested = answer["data"]["data"]
        if shape == "wrapper3":  # the whole Kling response is nested
            assert nested["code"] == 0
            return nested["data"]
        return nested

    answer = await query(http, task_id)
    outer = answer["data"]
    assert (answer["code"], answer["message"]) == ("success", "")
    assert (outer["task_id"], outer["action"]) == (task_id, "OMNI_VIDEO")
    assert (outer["status"], outer["progress"]) == ("SUBMITTED", "10%")
    assert outer["submit_time"] > 0
    assert (outer["start_time"], outer["finish_time"], outer["fail_reason"]) == (0, 0, "")
    assert kling_data(answer)["task_result"] == {}

    fake.set_timings(task_id, submitted_s=0)
    answer = await query(http, task_id)
    outer = answer["data"]
    assert (outer["status"], outer["progress"]) == ("IN_PROGRESS", "30%")
    assert outer["start_time"] >= outer["submit_time"]
    assert outer["finish_time"] == 0
    assert kling_data(answer)["task_status"] == "processing"

    fake.finish(task_id)
    answer = await query(http, task_id)
    outer = answer["data"]
    assert (outer["status"], outer["progress"], outer["fail_reason"]) == ("SUCCESS", "100%", "")
    assert outer["finish_time"] >= outer["start_time"] > 0
    assert outer["submit_time"] < 10**11  # unix seconds, not milliseconds
    data = kling_data(answer)
    assert data["task_status"] == "succeed"
    assert data["task_result"]["videos"][0]["url"] == f"{fake.base_url}/files/{task_id}.mp4"


async def test_wrapper_failure(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    fake.config.query_shape = "wrapper"
    task_id = await new_task(http)
    fake.finish(task_id, "failed", reason="risk control")
    answer = await query(http, task_id)
    outer = answer["data"]
    assert (outer["status"], outer["progress"]) == ("FAILURE", "100%")
    assert outer["fail_reason"] == "risk control"
    assert outer["data"]["task_status"] == "failed"
    assert outer["data"]["task_status_msg"] == "risk control"


@pytest.mark.parametrize("has_video", [True, False])
async def test_new_api_quirk_puts_the_url_in_fail_reason(
    fake: FakeCometAPI, http: aiohttp.ClientSession, has_video: bool
) -> None:
    fake.config.query_shape = "wrapper"
    fake.config.new_api_quirk = True
    fake.config.succeed_without_video = not has_video
    task_id = await new_task(http)
    fake.finish(task_id)
    outer = (await query(http, task_id))["data"]
    url = f"{fake.base_url}/files/{task_id}.mp4"
    assert (outer["status"], outer["fail_reason"]) == ("SUCCESS", url)
    videos = outer["data"]["task_result"].get("videos", [])
    assert [v["url"] for v in videos] == ([url] if has_video else [])
    async with http.get(url) as resp:  # the quirk's URL is served even without videos
        assert resp.status == 200


async def test_random_shape_uses_all_three(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    fake.config.query_shape = "random"
    task_id = await new_task(http)
    seen = set()
    for _ in range(40):
        answer = await query(http, task_id)
        if answer["code"] == 0:
            seen.add("native")
        elif "code" in answer["data"]["data"]:
            seen.add("wrapper3")
        else:
            seen.add("wrapper")
    assert seen == {"native", "wrapper", "wrapper3"}


async def test_public_base_url_changes_result_urls(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.config.public_base_url = "http://fake-comet:8765/"
    task_id = await new_task(http)
    fake.finish(task_id)
    data = (await query(http, task_id))["data"]
    assert data["task_result"]["videos"][0]["url"] == f"http://fake-comet:8765/files/{task_id}.mp4"

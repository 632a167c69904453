"""The fake CometAPI over loopback: auth, create, slots, query shapes, task life, records."""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.fakes.comet import CREATE_PATH, FakeCometAPI, FakeCometConfig, TaskState

KEY = "sk-test-secret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def body(**changes: Any) -> dict[str, Any]:
    """A valid O1 text-to-video create body."""
    return {
        "model_name": "kling-video-o1",
        "prompt": "A paper boat drifting down a rainy street",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        **changes,
    }


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    # Tasks stay `submitted` until a test moves them: no test depends on the wall clock.
    config = FakeCometConfig(api_key=KEY, submitted_s=math.inf, processing_s=math.inf, seed=7)
    async with FakeCometAPI(config) as server:
        yield server


@pytest.fixture
async def http(fake: FakeCometAPI) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=AUTH) as session:
        yield session


async def create(http: aiohttp.ClientSession, **changes: Any) -> tuple[int, Any]:
    async with http.post(CREATE_PATH, json=body(**changes)) as resp:
        return resp.status, await resp.json()


async def created_id(http: aiohttp.ClientSession, **changes: Any) -> str:
    status, answer = await create(http, **changes)
    assert status == 200, answer
    task_id = answer["data"]["task_id"]
    assert isinstance(task_id, str)
    return task_id


async def query(http: aiohttp.ClientSession, task_id: str) -> tuple[int, Any]:
    async with http.get(f"{CREATE_PATH}/{task_id}") as resp:
        return resp.status, await resp.json()


# -- auth and records -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "auth"),
    [({}, "missing"), ({"Authorization": "Bearer sk-wrong"}, "invalid"), (AUTH, "valid")],
)
async def test_auth_is_checked_and_recorded_without_the_key(
    fake: FakeCometAPI, headers: dict[str, str], auth: str
) -> None:
    async with (
        aiohttp.ClientSession(base_url=fake.base_url, headers=headers) as session,
        session.post(CREATE_PATH, json=body()) as resp,
    ):
        answer = await resp.json()
    if auth == "valid":
        assert resp.status == 200
    else:
        assert resp.status == 401
        assert answer["error"]["type"] == "comet_api_error"
        assert "request id:" in answer["error"]["message"]
        assert fake.tasks == {}
    [record] = fake.requests
    assert record.auth == auth
    assert KEY not in repr(fake.requests)
    assert "sk-wrong" not in repr(fake.requests)


async def test_query_needs_the_key_too(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    task_id = await created_id(http)
    async with (
        aiohttp.ClientSession(base_url=fake.base_url) as anonymous,
        anonymous.get(f"{CREATE_PATH}/{task_id}") as resp,
    ):
        assert resp.status == 401


async def test_requests_are_recorded(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    task_id = await created_id(http, external_task_id="ext-1")
    await create(http, duration="7")
    await query(http, task_id)
    create_ok, create_refused, query_ok = fake.requests
    assert (create_ok.method, create_ok.path, create_ok.status) == ("POST", CREATE_PATH, 200)
    assert create_ok.body == body(external_task_id="ext-1")
    assert create_ok.task_id == task_id
    assert create_refused.status == 400
    assert create_refused.task_id is None
    assert (query_ok.method, query_ok.status, query_ok.body) == ("GET", 200, None)
    assert query_ok.task_id == task_id
    assert all(r.fault is None and r.at <= time.time() for r in fake.requests)
    assert fake.creates() == [create_ok, create_refused]
    assert fake.accepted_creates() == [create_ok]


# -- create ------------------------------------------------------------------------------------


async def test_create_answers_the_kling_envelope(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    status, answer = await create(http, external_task_id="discord-1-ab")
    assert status == 200
    assert answer["code"] == 0
    uuid.UUID(answer["request_id"])
    data = answer["data"]
    assert re.fullmatch(r"[1-9][0-9]{17}", data["task_id"])
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": "discord-1-ab"}
    assert data["created_at"] == data["updated_at"]
    assert abs(data["created_at"] / 1000 - time.time()) < 60  # milliseconds, not seconds
    task = fake.tasks[data["task_id"]]
    assert task.body == body(external_task_id="discord-1-ab")
    assert task.external_task_id == "discord-1-ab"


async def test_create_without_external_id_has_empty_task_info(http: aiohttp.ClientSession) -> None:
    _, answer = await create(http)
    assert answer["data"]["task_info"] == {}


async def test_invalid_body_is_refused_with_1201_and_makes_no_task(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    status, answer = await create(http, duration=5)
    assert status == 400
    assert answer["code"] == 1201
    assert answer["message"].startswith("duration: ")
    assert fake.tasks == {}


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"{not json", "application/json"), (b'{"prompt":"p"}', "text/plain"), (b"[]", None)],
)
async def test_unparseable_body_is_refused_with_1200(
    fake: FakeCometAPI, http: aiohttp.ClientSession, data: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type or "application/json"}
    async with http.post(CREATE_PATH, data=data, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 1200
    assert fake.tasks == {}


async def test_unknown_fields_are_accepted_and_recorded(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    task_id = await created_id(http, cfg_scale=0.5)
    assert fake.requests[0].unknown_fields == ("cfg_scale",)
    assert fake.tasks[task_id].unknown_fields == ["cfg_scale"]


async def test_moderation_keyword_is_refused_with_1301(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    status, answer = await create(http, prompt="a MODERATEME scene")
    assert (status, answer["code"]) == (400, 1301)
    assert fake.tasks == {}


async def test_concurrency_cap_and_slot_release(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.config.max_concurrent_tasks = 2
    first = await created_id(http)
    second = await created_id(http)
    status, answer = await create(http)
    assert (status, answer["code"]) == (429, 1303)
    assert answer["message"] == "parallel task over resource pack limit"
    assert fake.active_task_ids() == sorted([first, second])
    fake.finish(first, "failed")  # failures free their slot too
    third = await created_id(http)
    assert fake.active_task_ids() == sorted([second, third])
    fake.set_timings(second, submitted_s=0, processing_s=0)  # ends it by its timings
    await created_id(http)
    assert len(fake.tasks) == 4


async def test_duplicate_external_id_is_refused(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    await created_id(http, external_task_id="same")
    status, answer = await create(http, external_task_id="same")
    assert (status, answer["code"]) == (400, 1201)
    assert answer["message"].startswith("external_task_id: ")
    fake.config.reject_duplicate_external_id = False
    await created_id(http, external_task_id="same")
    assert len(fake.tasks) == 2


async def test_task_ids_are_seeded_and_unique() -> None:
    ids = []
    for _ in range(2):
        async with (
            FakeCometAPI(FakeCometConfig(api_key=KEY, seed=99)) as server,
            aiohttp.ClientSession(base_url=server.base_url, headers=AUTH) as session,
        ):
            ids.append([await created_id(session) for _ in range(3)])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3


async def test_many_tasks_run_no_background_work(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.config.max_concurrent_tasks = 1000
    before = len(asyncio.all_tasks())
    for _ in range(100):
        await created_id(http)
    assert len(fake.tasks) == 100
    # Only the keep-alive connection's handler may have been added: no task per fake task.
    assert len(asyncio.all_tasks()) <= before + 1


# -- task life and the native shape ----------------------------------------------------------


async def test_native_lifecycle(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    task_id = await created_id(http, external_task_id="ext-9", duration="10")
    status, answer = await query(http, task_id)
    assert status == 200
    assert answer["code"] == 0
    data = answer["data"]
    assert data["task_status"] == "submitted"
    assert (data["task_result"], data["task_info"]) == ({}, {})
    assert "task_status_msg" not in data

    fake.set_timings(task_id, submitted_s=0)
    _, answer = await query(http, task_id)
    assert answer["data"]["task_status"] == "processing"
    assert answer["data"]["task_result"] == {}
    assert answer["data"]["updated_at"] >= answer["data"]["created_at"]

    fake.finish(task_id)
    _, answer = await query(http, task_id)
    data = answer["data"]
    assert data["task_status"] == "succeed"
    assert data["task_status_msg"] == ""
    assert data["task_info"] == {"external_task_id": "ext-9"}
    assert data["final_unit_deduction"] == "10"
    [video] = data["task_result"]["videos"]
    assert video["url"] == f"{fake.base_url}/files/{task_id}.mp4"
    assert video["duration"] == "10.0"
    assert "watermark_url" not in video
    uuid.UUID(video["id"])
    assert fake.state_of(task_id) is TaskState.SUCCEED


async def test_finish_twice_is_refused(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    task_id = await created_id(http)
    fake.finish(task_id, "failed", reason="custom reason")
    with pytest.raises(ValueError, match="already ended"):
        fake.finish(task_id)
    _, answer = await query(http, task_id)
    assert answer["data"]["task_status"] == "failed"
    assert answer["data"]["task_status_msg"] == "custom reason"


@pytest.mark.parametrize(
    ("changes", "config"),
    [({"prompt": "a FAILME scene"}, {}), ({}, {"failure_rate": 1.0})],
    ids=["keyword", "failure-rate"],
)
async def test_planned_failures(
    fake: FakeCometAPI, http: aiohttp.ClientSession, changes: dict[str, Any], config: dict[str, Any]
) -> None:
    for name, value in config.items():
        setattr(fake.config, name, value)
    fake.set_timings(submitted_s=0, processing_s=0)
    task_id = await created_id(http, **changes)
    _, answer = await query(http, task_id)
    assert answer["data"]["task_status"] == "failed"
    assert answer["data"]["task_status_msg"] == "Failure to pass the risk control system"
    assert answer["data"]["task_result"] == {}


async def test_timings_run_the_states_in_order(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.set_timings(submitted_s=0.03, processing_s=0.03)
    task_id = await created_id(http)
    seen: list[str] = []
    for _ in range(500):  # bounded: at most a few seconds even on a slow machine
        _, answer = await query(http, task_id)
        state = answer["data"]["task_status"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "succeed":
            break
        await asyncio.sleep(0.01)
    assert seen[-1] == "succeed"
    order = ["submitted", "processing", "succeed"]
    assert seen == sorted(seen, key=order.index)


async def test_watermark_url_only_when_enabled(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    marked = await created_id(http, watermark_info={"enabled": True})
    plain = await created_id(http)
    fake.finish(marked)
    fake.finish(plain)
    _, answer = await query(http, marked)
    assert answer["data"]["watermark_info"] == {"enabled": True}
    [video] = answer["data"]["task_result"]["videos"]
    assert video["watermark_url"] == f"{fake.base_url}/files/{marked}_watermark.mp4"
    async with http.get(video["watermark_url"]) as resp:
        assert resp.status == 200
    async with http.get(f"/files/{plain}_watermark.mp4") as resp:
        assert resp.status == 404


async def test_success_without_video(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    fake.config.succeed_without_video = True
    task_id = await created_id(http)
    fake.finish(task_id)
    _, answer = await query(http, task_id)
    assert answer["data"]["task_status"] == "succeed"
    assert answer["data"]["task_result"] == {}


# -- lookups ----------------------------------------------------------------------------------


async def test_unknown_id_is_task_not_exist(http: aiohttp.ClientSession) -> None:
    status, answer = await query(http, "123456789012345678")
    assert status == 400
    assert answer == {"code": "task_not_exist", "message": "task_not_exist", "data": None}


async def test_lookup_by_external_id_is_configurable(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    task_id = await created_id(http, external_task_id="mine-1")
    status, answer = await query(http, "mine-1")
    assert (status, answer["data"]["task_id"]) == (200, task_id)
    fake.config.lookup_by_external_id = False
    status, answer = await query(http, "mine-1")
    assert (status, answer["code"]) == (400, "task_not_exist")


async def test_list_route_pages_newest_first(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    ids = [await created_id(http) for _ in range(3)]
    async with http.get(CREATE_PATH, params={"pageNum": "1", "pageSize": "2"}) as resp:
        answer = await resp.json()
    assert answer["code"] == 0
    assert [item["task_id"] for item in answer["data"]] == [ids[2], ids[1]]
    async with http.get(CREATE_PATH, params={"pageNum": "2", "pageSize": "2"}) as resp:
        assert [item["task_id"] for item in (await resp.json())["data"]] == [ids[0]]
    async with http.get(CREATE_PATH, params={"pageSize": "x"}) as resp:
        assert resp.status == 400

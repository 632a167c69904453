"""Injected and random faults: every kind, on every route, and that faults never create tasks."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.fakes.comet import (
    CREATE_PATH,
    RANDOM_MENU,
    FakeCometAPI,
    FakeCometConfig,
    FaultKind,
    Route,
)
from bot.fakes.comet.faults import FaultPlan, InjectedFault

KEY = "sk-faults"
BODY = {"model_name": "kling-video-o1", "prompt": "p", "aspect_ratio": "16:9", "duration": "5"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    config = FakeCometConfig(api_key=KEY, submitted_s=math.inf, processing_s=math.inf, seed=5)
    async with FakeCometAPI(config) as server:
        yield server


@pytest.fixture
async def http(fake: FakeCometAPI) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(base_url=fake.base_url, headers=headers) as session:
        yield session


async def post_create(http: aiohttp.ClientSession) -> tuple[int, str, str, dict[str, str]]:
    async with http.post(CREATE_PATH, json=BODY) as resp:
        return resp.status, resp.content_type, await resp.text(), dict(resp.headers)


# kind -> (HTTP status, a check of the parsed body or None for non-JSON bodies)
ANSWERS: dict[FaultKind, tuple[int, Any]] = {
    FaultKind.GATEWAY_429: (429, lambda b: b["error"]["type"] == "comet_api_error"),
    FaultKind.GATEWAY_429_NO_RETRY_AFTER: (429, lambda b: "error" in b),
    FaultKind.KLING_1302: (429, lambda b: b["code"] == 1302),
    FaultKind.KLING_1303: (
        429,
        lambda b: b["code"] == 1303 and b["message"] == "parallel task over resource pack limit",
    ),
    FaultKind.OUT_OF_CREDIT: (429, lambda b: b["code"] == 1102),
    FaultKind.UNAUTHORIZED: (401, lambda b: b["error"]["message"].startswith("Invalid token")),
    FaultKind.SERVER_500_GATEWAY: (500, lambda b: "error" in b),
    FaultKind.SERVER_500_KLING: (500, lambda b: b["code"] == 5000),
    FaultKind.UNAVAILABLE_503: (503, lambda b: b["code"] == 5001),
    FaultKind.TIMEOUT_504: (
        504,
        lambda b: b["code"] == "fail_to_fetch_task" and json.loads(b["message"])["code"] == 5002,
    ),
    FaultKind.TIMEOUT_524: (524, lambda b: "error" in b),
    FaultKind.SLOW_NOT_CREATED: (504, lambda b: "error" in b),
    FaultKind.HTML_502: (502, None),
    FaultKind.MALFORMED_JSON: (200, None),
}


@pytest.mark.parametrize("kind", list(ANSWERS))
async def test_answering_faults_on_create_make_no_task(
    fake: FakeCometAPI, http: aiohttp.ClientSession, kind: FaultKind
) -> None:
    fake.inject(kind, route="create", delay_s=0.01)
    status, content_type, text, headers = await post_create(http)
    expected_status, check = ANSWERS[kind]
    assert status == expected_status
    if check is None:
        with pytest.raises(ValueError):
            json.loads(text)
        expected_type = "text/html" if kind is FaultKind.HTML_502 else "application/json"
        assert content_type == expected_type
    else:
        assert content_type == "application/json"
        assert check(json.loads(text))
    assert ("Retry-After" in headers) == (kind is FaultKind.GATEWAY_429)
    assert fake.tasks == {}
    [record] = fake.creates()
    assert (record.fault, record.status, record.task_id) == (kind, expected_status, None)
    assert fake.accepted_creates() == []
    # The fault is spent: the next create goes through.
    assert (await post_create(http))[0] == 200


@pytest.mark.parametrize("kind", [FaultKind.KLING_1303, FaultKind.UNAVAILABLE_503])
async def test_retry_after_can_be_set(
    fake: FakeCometAPI, http: aiohttp.ClientSession, kind: FaultKind
) -> None:
    fake.inject(kind, retry_after_s=2.5)
    assert (await post_create(http))[3]["Retry-After"] == "3"


async def test_gateway_429_without_retry_after_ignores_the_option(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.GATEWAY_429_NO_RETRY_AFTER, retry_after_s=4)
    assert "Retry-After" not in (await post_create(http))[3]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.CONNECTION_CLOSE, aiohttp.ServerDisconnectedError),
        (FaultKind.CONNECTION_RESET, aiohttp.ClientConnectionError),
    ],
)
async def test_dropped_connection_on_create_makes_no_task(
    fake: FakeCometAPI, http: aiohttp.ClientSession, kind: FaultKind, error: type[Exception]
) -> None:
    fake.inject(kind)
    with pytest.raises(error):
        await post_create(http)
    assert fake.tasks == {}
    [record] = fake.creates()
    assert (record.fault, record.status) == (kind, None)
    assert (await post_create(http))[0] == 200


async def test_slow_create_answers_late_but_creates(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.SLOW, delay_s=0.02)
    status, _, text, _ = await post_create(http)
    assert status == 200
    assert json.loads(text)["data"]["task_id"] in fake.tasks


async def test_slow_create_beyond_the_client_timeout_is_billed(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.SLOW, delay_s=30)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(CREATE_PATH, json=BODY, timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    # The task exists although the client never saw its ID: an ambiguous create.
    [task] = fake.tasks.values()
    [record] = fake.accepted_creates()
    assert (record.task_id, record.fault) == (task.task_id, FaultKind.SLOW)


async def test_slow_not_created_beyond_the_client_timeout(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.SLOW_NOT_CREATED, delay_s=30)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(CREATE_PATH, json=BODY, timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    assert fake.tasks == {}


@pytest.mark.parametrize("after_handling", [False, True], ids=["before", "after creating"])
async def test_a_524_before_or_after_the_task_is_made(
    fake: FakeCometAPI, http: aiohttp.ClientSession, after_handling: bool
) -> None:
    body = {**BODY, "external_task_id": "kob-once"}
    fake.inject(FaultKind.TIMEOUT_524, after_handling=after_handling)
    async with http.post(CREATE_PATH, json=body) as resp:
        assert resp.status == 524
    assert len(fake.tasks) == (1 if after_handling else 0)
    assert [r.fault for r in fake.accepted_creates()] == (
        [FaultKind.TIMEOUT_524] if after_handling else []
    )
    # The same create again: made now, or refused as a duplicate if the first one landed.
    async with http.post(CREATE_PATH, json=body) as resp:
        answer = await resp.json()
        assert (resp.status, answer["code"]) == ((400, 1201) if after_handling else (200, 0))
    assert len(fake.tasks) == 1


def test_a_fault_that_says_itself_whether_it_handles_takes_no_switch() -> None:
    with pytest.raises(ValueError, match="whether the request is handled"):
        FaultPlan().add(InjectedFault(FaultKind.SLOW_NOT_CREATED, after_handling=True))


async def test_faults_match_their_route_and_count(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.UNAVAILABLE_503, route="query", times=2)
    assert (await post_create(http))[0] == 200  # a create does not consume a query fault
    [task_id] = fake.tasks
    statuses = []
    for _ in range(3):
        async with http.get(f"{CREATE_PATH}/{task_id}") as resp:
            statuses.append(resp.status)
    assert statuses == [503, 503, 200]
    assert fake.pending_faults == []


async def test_faults_fire_in_injection_order(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.KLING_1302, route=Route.ANY)
    fake.inject(FaultKind.SERVER_500_KLING)
    assert [(await post_create(http))[0] for _ in range(3)] == [429, 500, 200]


async def test_clear_faults(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    fake.inject(FaultKind.KLING_1303, times=5)
    assert [f.kind for f in fake.pending_faults] == [FaultKind.KLING_1303]
    fake.clear_faults()
    assert (await post_create(http))[0] == 200


@pytest.mark.parametrize("kind", [FaultKind.CONNECTION_CLOSE, FaultKind.CONNECTION_RESET])
async def test_dropped_connection_on_query(
    fake: FakeCometAPI, http: aiohttp.ClientSession, kind: FaultKind
) -> None:
    assert (await post_create(http))[0] == 200
    [task_id] = fake.tasks
    # aiohttp retries an idempotent request once after a disconnect: drop both attempts.
    fake.inject(kind, route="query", times=2)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{CREATE_PATH}/{task_id}"):
            pass


@pytest.mark.parametrize("kind", [FaultKind.HTML_502, FaultKind.SLOW])
async def test_file_route_faults(
    fake: FakeCometAPI, http: aiohttp.ClientSession, kind: FaultKind
) -> None:
    assert (await post_create(http))[0] == 200
    [task_id] = fake.tasks
    fake.finish(task_id)
    fake.inject(kind, route="file", delay_s=0.01)
    async with http.get(f"/files/{task_id}.mp4") as resp:
        assert resp.status == (502 if kind is FaultKind.HTML_502 else 200)


async def test_latency_delays_but_answers(fake: FakeCometAPI, http: aiohttp.ClientSession) -> None:
    fake.config.latency_s = 0.01
    fake.inject(FaultKind.KLING_1302)
    assert [(await post_create(http))[0] for _ in range(2)] == [429, 200]


async def test_random_faults_come_from_the_route_menu(
    fake: FakeCometAPI, http: aiohttp.ClientSession
) -> None:
    fake.config.fault_rate = 1.0
    statuses = {(await post_create(http))[0] for _ in range(30)}
    assert statuses <= {429, 500, 502, 503, 504, 524}
    assert len(statuses) >= 3
    assert fake.tasks == {}
    assert {r.fault for r in fake.requests} <= set(RANDOM_MENU[Route.CREATE])


def test_random_menus_hold_only_survivable_faults() -> None:
    never_random = {
        FaultKind.UNAUTHORIZED,
        FaultKind.OUT_OF_CREDIT,
        FaultKind.SLOW,
        FaultKind.SLOW_NOT_CREATED,
    }
    ambiguous_on_create = {
        FaultKind.MALFORMED_JSON,
        FaultKind.CONNECTION_CLOSE,
        FaultKind.CONNECTION_RESET,
    }
    for route, menu in RANDOM_MENU.items():
        assert not never_random & set(menu), route
    assert not ambiguous_on_create & set(RANDOM_MENU[Route.CREATE])


def test_fault_plan_is_seeded_and_rate_bound() -> None:
    def draws(seed: int) -> list[FaultKind | None]:
        plan, rng = FaultPlan(), random.Random(seed)
        faults = [plan.take(Route.QUERY, fault_rate=0.5, rng=rng) for _ in range(50)]
        return [f.kind if f else None for f in faults]

    assert draws(1) == draws(1)
    assert None in draws(1)
    assert any(draws(1))
    plan = FaultPlan()
    assert plan.take(Route.FILE, fault_rate=0.0, rng=random.Random(0)) is None


@pytest.mark.parametrize("bad", [{"times": 0}, {"delay_s": -1.0}])
def test_bad_injections_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultPlan().add(InjectedFault(FaultKind.SLOW, **bad))

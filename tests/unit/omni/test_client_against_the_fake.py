"""OmniClient against the fake CometAPI (bot.fakes.comet) over loopback, chaos included."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.domain.backoff import Backoff
from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.request import OmniRequest, make_request
from bot.fakes.comet import FakeCometAPI, FakeCometConfig, FaultKind, Route
from bot.omni.client import CreatedTask, OmniClient, RetryPolicy, TaskSnapshot, TaskStatus
from bot.omni.wire import NO_URL_REASON

A = ApiErrorKind
KEY = "sk-fake-key"
FAST = RetryPolicy(max_attempts=3, backoff=Backoff(initial_s=0.0, max_s=0.0))


async def no_wait(delay_s: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def fake() -> AsyncIterator[FakeCometAPI]:
    config = FakeCometConfig(api_key=KEY, submitted_s=0.05, processing_s=0.1, seed=3)
    async with FakeCometAPI(config) as server:
        yield server


def client_for(
    session: aiohttp.ClientSession,
    fake: FakeCometAPI,
    *,
    api_key: str = KEY,
    create_timeout_s: float = 2.0,
) -> OmniClient:
    return OmniClient(
        session,
        fake.base_url,
        api_key,
        create_timeout_s=create_timeout_s,
        query_timeout_s=2.0,
        create_retry=FAST,
        query_retry=FAST,
        sleep=no_wait,
        rng=random.Random(5),
    )


def text_request(prompt: str = "a paper boat on a rainy street") -> OmniRequest:
    return make_request({"prompt": prompt, "aspect_ratio": "16:9", "duration_s": 5})


async def until_terminal(client: OmniClient, task_id: str, timeout_s: float = 5.0) -> TaskSnapshot:
    async with asyncio.timeout(timeout_s):
        while True:
            snapshot = await client.query(task_id)
            if snapshot.status.is_terminal:
                return snapshot
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("shape", ["native", "wrapper", "wrapper3"])
async def test_a_task_succeeds_in_every_query_shape_and_downloads(
    session: aiohttp.ClientSession, fake: FakeCometAPI, shape: str, tmp_path: Path
) -> None:
    fake.config.query_shape = shape  # type: ignore[assignment]
    client = client_for(session, fake)
    created = await client.create(text_request(), external_task_id=f"ext-{shape}")
    assert created.external_task_id == f"ext-{shape}"
    snapshot = await until_terminal(client, created.task_id)
    assert snapshot.status is TaskStatus.SUCCEEDED
    assert snapshot.video_url == f"{fake.base_url}/files/{created.task_id}.mp4"
    assert snapshot.video_duration_s == 5.0
    download = await client.download(snapshot.video_url, tmp_path / "v.mp4", max_bytes=10 << 20)
    assert download.size_bytes == (tmp_path / "v.mp4").stat().st_size > 0
    file_requests = [r for r in fake.requests if r.path.startswith("/files/")]
    assert [r.auth for r in file_requests] == ["missing"]  # the CDN never saw the key


async def test_the_fail_keyword_ends_failed_with_the_fakes_reason(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    client = client_for(session, fake)
    created = await client.create(text_request("please FAILME now"))
    snapshot = await until_terminal(client, created.task_id)
    assert (snapshot.status, snapshot.failure_reason) == (
        TaskStatus.FAILED,
        fake.config.failure_message,
    )


async def test_the_new_api_quirk_and_success_without_video(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    client = client_for(session, fake)
    fake.config.query_shape, fake.config.new_api_quirk = "wrapper", True
    quirky = await client.create(text_request())
    fake.config.succeed_without_video = True
    empty = await client.create(text_request())
    with_quirk = await until_terminal(client, quirky.task_id)
    fake.config.new_api_quirk = False
    without_video = await until_terminal(client, empty.task_id)
    assert with_quirk.status is TaskStatus.SUCCEEDED
    assert (without_video.status, without_video.failure_reason) == (
        TaskStatus.FAILED,
        NO_URL_REASON,
    )


async def test_watermarked_copies_are_reported(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    client = client_for(session, fake)
    request = make_request({"prompt": "x", "aspect_ratio": "1:1", "watermark": True})
    snapshot = await until_terminal(client, (await client.create(request)).task_id)
    assert snapshot.watermark_url is not None and snapshot.watermark_url.endswith("_watermark.mp4")


@pytest.mark.parametrize(
    "prompt_or_key, kind",
    [("MODERATEME please", A.MODERATED), ("wrong-key", A.AUTH)],
)
async def test_refusals_from_the_fake_are_final(
    session: aiohttp.ClientSession, fake: FakeCometAPI, prompt_or_key: str, kind: ApiErrorKind
) -> None:
    if prompt_or_key == "wrong-key":
        client, request = client_for(session, fake, api_key="sk-wrong"), text_request()
    else:
        client, request = client_for(session, fake), text_request(prompt_or_key)
    with pytest.raises(ApiError) as caught:
        await client.create(request)
    assert caught.value.kind is kind
    assert len(fake.creates()) == 1


async def test_an_unknown_task_is_not_found(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    with pytest.raises(ApiError) as caught:
        await client_for(session, fake).query("123456789012345678")
    assert caught.value.kind is A.NOT_FOUND


async def test_the_concurrency_cap_is_rate_limited_and_retried(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    fake.config.max_concurrent_tasks = 1
    fake.set_timings(processing_s=float("inf"))  # the first task holds the one slot throughout
    client = client_for(session, fake)
    await client.create(text_request())
    with pytest.raises(ApiError) as caught:
        await client.create(text_request())
    assert caught.value.kind is A.RATE_LIMITED
    assert len(fake.creates()) == 1 + FAST.max_attempts


RETRIED_ON_CREATE = [
    (FaultKind.GATEWAY_429, A.RATE_LIMITED),
    (FaultKind.GATEWAY_429_NO_RETRY_AFTER, A.RATE_LIMITED),
    (FaultKind.KLING_1302, A.RATE_LIMITED),
    (FaultKind.KLING_1303, A.RATE_LIMITED),
    (FaultKind.SERVER_500_GATEWAY, A.TRANSIENT),
    (FaultKind.SERVER_500_KLING, A.TRANSIENT),
    (FaultKind.UNAVAILABLE_503, A.TRANSIENT),
    (FaultKind.TIMEOUT_504, A.TRANSIENT),  # Kling's own 5002 inside: Kling answered
    (FaultKind.HTML_502, A.TRANSIENT),
]


@pytest.mark.parametrize("fault, kind", RETRIED_ON_CREATE)
async def test_retryable_create_faults_are_retried_then_succeed(
    session: aiohttp.ClientSession, fake: FakeCometAPI, fault: FaultKind, kind: ApiErrorKind
) -> None:
    fake.inject(fault, route=Route.CREATE, times=FAST.max_attempts - 1)
    created = await client_for(session, fake).create(text_request())
    assert [r.fault for r in fake.creates()] == [fault, fault, None]
    assert list(fake.tasks) == [created.task_id]


@pytest.mark.parametrize(
    "fault, kind",
    [(FaultKind.OUT_OF_CREDIT, A.OUT_OF_CREDIT), (FaultKind.UNAUTHORIZED, A.AUTH)],
)
async def test_final_create_faults_are_not_retried(
    session: aiohttp.ClientSession, fake: FakeCometAPI, fault: FaultKind, kind: ApiErrorKind
) -> None:
    fake.inject(fault, route=Route.CREATE)
    with pytest.raises(ApiError) as caught:
        await client_for(session, fake).create(text_request())
    assert caught.value.kind is kind
    assert len(fake.creates()) == 1


@pytest.mark.parametrize(
    "fault, is_task_made",
    [
        (FaultKind.SLOW, True),  # made and billed, answered too late
        # A gateway 504/524 on a create without an external_task_id: a resend could not be
        # told from a new task, so the client cannot tell.
        (FaultKind.SLOW_NOT_CREATED, False),
        (FaultKind.TIMEOUT_524, False),
        (FaultKind.MALFORMED_JSON, False),  # a 200 we cannot read
        (FaultKind.CONNECTION_CLOSE, False),
        (FaultKind.CONNECTION_RESET, False),
    ],
)
async def test_create_faults_that_may_have_made_a_task_are_ambiguous_and_not_resent(
    session: aiohttp.ClientSession, fake: FakeCometAPI, fault: FaultKind, is_task_made: bool
) -> None:
    fake.inject(fault, route=Route.CREATE, delay_s=0.5)
    client = client_for(session, fake, create_timeout_s=0.3 if fault is FaultKind.SLOW else 2.0)
    with pytest.raises(ApiError) as caught:
        await client.create(text_request())
    assert caught.value.kind is A.AMBIGUOUS
    assert len(fake.creates()) == 1
    assert len(fake.tasks) == (1 if is_task_made else 0)


@pytest.mark.parametrize("fault", [FaultKind.TIMEOUT_524, FaultKind.SLOW_NOT_CREATED])
async def test_a_gateway_timeout_is_resent_with_the_same_external_id(
    session: aiohttp.ClientSession, fake: FakeCometAPI, fault: FaultKind
) -> None:
    fake.inject(fault, route=Route.CREATE, delay_s=0.01)  # the gateway gave up; no task made
    created = await client_for(session, fake).create(text_request(), external_task_id="kob-1")
    sent = fake.creates()
    assert [r.fault for r in sent] == [fault, None]
    assert [r.body["external_task_id"] for r in sent if isinstance(r.body, dict)] == ["kob-1"] * 2
    assert list(fake.tasks) == [created.task_id]


async def test_a_gateway_timeout_after_the_task_was_made_ends_in_a_duplicate_refusal(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    fake.inject(FaultKind.TIMEOUT_524, route=Route.CREATE, after_handling=True)
    with pytest.raises(ApiError) as caught:
        await client_for(session, fake).create(text_request(), external_task_id="kob-2")
    assert caught.value.kind is A.DUPLICATE
    # Sent twice, made once: the resend was refused rather than billed (and not sent again).
    assert [(r.status, r.fault) for r in fake.creates()] == [
        (524, FaultKind.TIMEOUT_524),
        (400, None),
    ]
    [task] = fake.tasks.values()
    assert task.external_task_id == "kob-2"


@pytest.mark.parametrize(
    "fault",
    [
        FaultKind.MALFORMED_JSON,
        FaultKind.CONNECTION_CLOSE,
        FaultKind.CONNECTION_RESET,
        FaultKind.TIMEOUT_524,
        FaultKind.HTML_502,
        FaultKind.KLING_1302,
    ],
)
async def test_query_faults_are_retried(
    session: aiohttp.ClientSession, fake: FakeCometAPI, fault: FaultKind
) -> None:
    fake.set_timings(processing_s=float("inf"))  # no timer moves the task on mid-test
    client = client_for(session, fake)
    created = await client.create(text_request())
    fake.inject(fault, route=Route.QUERY, times=2)
    snapshot = await client.query(created.task_id)
    assert snapshot.task_id == created.task_id
    assert snapshot.status in (TaskStatus.QUEUED, TaskStatus.RUNNING)
    assert len([r for r in fake.requests if r.method == "GET"]) == 3  # two faults, one answer


async def test_a_slow_query_times_out_and_is_retried(
    session: aiohttp.ClientSession, fake: FakeCometAPI
) -> None:
    client = OmniClient(session, fake.base_url, KEY, query_timeout_s=0.2, query_retry=FAST)
    created = await client_for(session, fake).create(text_request())
    fake.inject(FaultKind.SLOW, route=Route.QUERY, delay_s=1.0)
    assert (await client.query(created.task_id)).task_id == created.task_id
    assert len([r for r in fake.requests if r.method == "GET"]) == 2


# -- chaos --------------------------------------------------------------------------------------

CHAOS_TASKS = 30
CHAOS_SEED = 20260312
CHAOS_POLICY = RetryPolicy(max_attempts=12, backoff=Backoff(initial_s=0.0, max_s=0.0))


async def test_chaos_every_created_task_ends_as_the_fake_decided(
    session: aiohttp.ClientSession,
) -> None:
    config = FakeCometConfig(
        api_key=KEY,
        query_shape="random",
        fault_rate=0.3,
        seed=CHAOS_SEED,
        submitted_s=0.05,
        processing_s=0.15,
        max_concurrent_tasks=CHAOS_TASKS,
    )
    async with FakeCometAPI(config) as fake:
        client = OmniClient(
            session,
            fake.base_url,
            KEY,
            create_timeout_s=2,
            query_timeout_s=2,
            create_retry=CHAOS_POLICY,
            query_retry=CHAOS_POLICY,
            sleep=no_wait,
            rng=random.Random(11),
        )

        async def one(n: int) -> tuple[str, CreatedTask | ApiError, TaskSnapshot | None]:
            external_id = f"chaos-{n}"
            prompt = f"shot {n} FAILME" if n % 4 == 0 else f"shot {n}"
            try:
                created = await client.create(text_request(prompt), external_task_id=external_id)
            except ApiError as error:
                return external_id, error, None
            return external_id, created, await until_terminal(client, created.task_id, 10)

        async with asyncio.timeout(15):
            outcomes = await asyncio.gather(*(one(n) for n in range(CHAOS_TASKS)))

    created = {ext: c for ext, c, _ in outcomes if isinstance(c, CreatedTask)}
    errors = {ext: c for ext, c, _ in outcomes if isinstance(c, ApiError)}
    # No task was made twice, and every task the fake made was reported to its creator.
    assert sorted(fake.tasks) == sorted(c.task_id for c in created.values())
    # Every task ends exactly as the fake decided.
    for ext, task, snapshot in outcomes:
        if not isinstance(task, CreatedTask):
            continue
        assert snapshot is not None
        fake_task = fake.tasks[task.task_id]
        assert fake_task.external_task_id == ext
        if fake_task.outcome == "succeed":
            assert snapshot.status is TaskStatus.SUCCEEDED
            assert snapshot.video_url == f"{fake.base_url}/files/{task.task_id}.mp4"
        else:
            assert (snapshot.status, snapshot.failure_reason) == (
                TaskStatus.FAILED,
                config.failure_message,
            )
    # Every create that met a fault of the random menu (all answered before a task was made,
    # a 524 included) was sent again with the same external_task_id until it was made.
    attempts: dict[str, list[FaultKind | None]] = {}
    for record in fake.creates():
        assert isinstance(record.body, dict)
        attempts.setdefault(str(record.body["external_task_id"]), []).append(record.fault)
    for ext, faults in attempts.items():
        assert None not in faults[:-1] and faults[-1] is None, (ext, faults)
    assert {ext: error.log_line() for ext, error in errors.items()} == {}
    assert sum(1 for faults in attempts.values() for f in faults if f is not None) >= 3
    queries = [r for r in fake.requests if r.method == "GET" and r.fault is not None]
    assert queries, "the chaos reached the queries too"

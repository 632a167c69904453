"""OmniClient over loopback against a tiny scripted server: retries, ambiguity, downloads."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.request import OmniRequest, make_request
from bot.omni.client import (
    OMNI_PATH,
    OmniClient,
    ResultTooLarge,
    RetryPolicy,
    TaskStatus,
    api_backoff,
)
from bot.omni.errors import BASE_URL_HINT
from bot.omni.wire import build_create_body

API_KEY = "sk-test-0123456789abcdef"
A = ApiErrorKind


@dataclass
class Reply:
    """One scripted answer; `drop` closes the connection after reading the request."""

    status: int = 200
    body: str | bytes = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    chunks: list[bytes] | None = None  # streamed; no Content-Length unless `length` is set
    length: int | None = None
    drop_after_chunks: bool = False


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers every request with the next scripted `Reply` (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def then(self, *replies: Reply) -> ScriptedServer:
        self.script.extend(replies)
        return self

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.raw_path, dict(request.headers), body))
        reply = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        if reply.chunks is not None:
            response = web.StreamResponse(status=reply.status, headers=reply.headers)
            response.content_type = reply.content_type
            if reply.length is not None:
                response.content_length = reply.length
            else:
                response.enable_chunked_encoding()
            await response.prepare(request)
            for chunk in reply.chunks:
                await response.write(chunk)
            if reply.drop_after_chunks:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write_eof()
            return response
        text = reply.body if isinstance(reply.body, bytes) else reply.body.encode()
        return web.Response(
            status=reply.status, body=text, content_type=reply.content_type, headers=reply.headers
        )

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


class RecordingSleep:
    """The injected sleep: records the delays, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    await scripted.start()
    yield scripted
    await scripted.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


POLICY = RetryPolicy(max_attempts=3, backoff=api_backoff(1.0, 20.0))


@pytest.fixture
def client(
    session: aiohttp.ClientSession, server: ScriptedServer, sleep: RecordingSleep
) -> OmniClient:
    return OmniClient(
        session,
        server.base_url + "/",
        API_KEY,
        create_timeout_s=0.3,
        query_timeout_s=0.3,
        create_retry=POLICY,
        query_retry=POLICY,
        sleep=sleep,
        rng=random.Random(1),
    )


REQUEST: OmniRequest = make_request({"prompt": "a paper boat", "aspect_ratio": "16:9"})


def ok_create(task_id: str = "878106484537192522") -> Reply:
    body = {
        "code": 0,
        "message": "SUCCEED",
        "data": {"task_id": task_id, "task_status": "submitted"},
    }
    return Reply(body=json.dumps(body))


def kling(status: int, code: int, message: str = "no", **headers: str) -> Reply:
    body = json.dumps({"code": code, "message": message, "request_id": "r"})
    return Reply(status=status, body=body, headers=dict(headers))


def native(status_word: str, **extra: object) -> Reply:
    data: dict[str, object] = {"task_id": "t1", "task_status": status_word, "task_result": {}}
    data.update(extra)
    return Reply(body=json.dumps({"code": 0, "message": "SUCCEED", "data": data}))


# -- create -------------------------------------------------------------------------------------


async def test_create_posts_the_body_with_the_key_and_returns_the_task(
    client: OmniClient, server: ScriptedServer
) -> None:
    server.then(ok_create())
    created = await client.create(REQUEST, external_task_id="discord-1")
    assert created.task_id == "878106484537192522"
    assert created.status is TaskStatus.QUEUED
    (seen,) = server.seen
    assert (seen.method, seen.path) == ("POST", OMNI_PATH)
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["Content-Type"].startswith("application/json")
    assert json.loads(seen.body) == build_create_body(REQUEST, "discord-1")


@pytest.mark.parametrize(
    "reply, kind",
    [
        (kling(429, 1303, "parallel task over resource pack limit"), A.RATE_LIMITED),
        (kling(429, 1302), A.RATE_LIMITED),
        (kling(500, 5000), A.TRANSIENT),
        (kling(503, 5001), A.TRANSIENT),
        (
            Reply(status=502, body="<html><title>502</title></html>", content_type="text/html"),
            A.TRANSIENT,
        ),
        (Reply(status=500, body=""), A.TRANSIENT),
    ],
)
async def test_retryable_create_failures_are_retried_up_to_max_attempts(
    client: OmniClient,
    server: ScriptedServer,
    sleep: RecordingSleep,
    reply: Reply,
    kind: ApiErrorKind,
) -> None:
    server.then(reply)
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is kind
    assert len(server.seen) == POLICY.max_attempts
    assert len(sleep.delays) == POLICY.max_attempts - 1
    assert all(POLICY.backoff.initial_s <= d <= POLICY.backoff.max_s for d in sleep.delays)


async def test_a_retried_create_succeeds_once_the_api_says_yes(
    client: OmniClient, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    server.then(kling(429, 1303), kling(503, 5001), ok_create("t-9"))
    created = await client.create(REQUEST)
    assert created.task_id == "t-9"
    assert len(server.seen) == 3
    assert all(s.body == server.seen[0].body for s in server.seen)  # the same body each time


@pytest.mark.parametrize(
    "reply, kind",
    [
        (kling(400, 1201, "duration: bad"), A.INVALID_REQUEST),
        (kling(400, 1301), A.MODERATED),
        (kling(400, 1300), A.MODERATED),
        (kling(429, 1100), A.AUTH),
        (kling(429, 1101), A.OUT_OF_CREDIT),
        (kling(429, 1102), A.OUT_OF_CREDIT),
        (kling(403, 1103), A.AUTH),
        (kling(429, 1304), A.AUTH),
        (kling(401, 1000), A.AUTH),
        (Reply(status=401, body='{"error":{"message":"Invalid token","code":""}}'), A.AUTH),
        (Reply(status=403, body='{"error":{"message":"blocked","code":""}}'), A.AUTH),
        (Reply(status=403, body='{"error":{"message":"insufficient quota"}}'), A.OUT_OF_CREDIT),
        (Reply(status=400, body='{"error":{"message":"bad","code":""}}'), A.INVALID_REQUEST),
        (Reply(status=413, body="too large", content_type="text/plain"), A.INVALID_REQUEST),
        (
            Reply(status=500, body='{"error":{"message":"x","code":"invalid_request"}}'),
            A.INVALID_REQUEST,
        ),
        (Reply(status=404, body="<html>nope</html>", content_type="text/html"), A.UNKNOWN),
    ],
)
async def test_final_create_refusals_are_sent_exactly_once(
    client: OmniClient,
    server: ScriptedServer,
    sleep: RecordingSleep,
    reply: Reply,
    kind: ApiErrorKind,
) -> None:
    server.then(reply)
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is kind
    assert len(server.seen) == 1
    assert sleep.delays == []


async def test_a_create_timeout_is_ambiguous_and_never_resent(
    client: OmniClient, server: ScriptedServer
) -> None:
    server.then(Reply(delay_s=2.0, body=ok_create().body))
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is A.AMBIGUOUS
    assert len(server.seen) == 1


async def test_a_create_whose_connection_drops_after_sending_is_ambiguous(
    client: OmniClient, server: ScriptedServer
) -> None:
    server.then(Reply(drop=True))
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is A.AMBIGUOUS
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body='{"code":0,"message":"SUCCEED","data":{"task_id":"8781'),
        Reply(body='{"code":0,"message":"SUCCEED","data":{}}'),
        Reply(body="", status=201),
        Reply(status=504, body='{"error":{"message":"upstream timed out"}}'),
        Reply(status=524, body="<html>A timeout occurred</html>", content_type="text/html"),
    ],
)
async def test_unreadable_success_and_gateway_timeouts_are_ambiguous_creates(
    client: OmniClient, server: ScriptedServer, reply: Reply
) -> None:
    server.then(reply)
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is A.AMBIGUOUS
    assert len(server.seen) == 1


async def test_a_504_carrying_kling_5002_is_transient_because_kling_answered(
    client: OmniClient, server: ScriptedServer
) -> None:
    upstream = '{"code":5002,"message":"server internal timeout"}'
    relay = json.dumps({"code": "fail_to_fetch_task", "message": upstream, "data": None})
    server.then(Reply(status=504, body=relay), ok_create("t-2"))
    assert (await client.create(REQUEST)).task_id == "t-2"
    assert len(server.seen) == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_transient_and_retried(
    session: aiohttp.ClientSession, sleep: RecordingSleep
) -> None:
    client = OmniClient(
        session, f"http://127.0.0.1:{_closed_port()}", API_KEY, create_retry=POLICY, sleep=sleep
    )
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is A.TRANSIENT
    assert len(sleep.delays) == POLICY.max_attempts - 1


async def test_redirects_are_not_followed(client: OmniClient, server: ScriptedServer) -> None:
    server.then(Reply(status=301, headers={"Location": "/elsewhere"}), ok_create())
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    assert caught.value.kind is A.UNKNOWN
    assert BASE_URL_HINT in caught.value.detail
    assert server.paths() == [OMNI_PATH]


async def test_retry_after_seconds_is_passed_to_sleep(
    client: OmniClient, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    server.then(kling(429, 1303, **{"Retry-After": "7"}), ok_create())
    await client.create(REQUEST)
    assert sleep.delays == [7.0]


async def test_retry_after_is_capped_by_the_policy(
    client: OmniClient, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    server.then(Reply(status=503, headers={"Retry-After": "3600"}), ok_create())
    await client.create(REQUEST)
    assert sleep.delays == [POLICY.backoff.max_s]


async def test_retry_after_as_an_http_date_is_honoured(
    client: OmniClient, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    server.then(Reply(status=429, headers={"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}))
    server.then(ok_create())
    await client.create(REQUEST)
    assert sleep.delays == [0.0]  # a date in the past means "now"


async def test_backoff_grows_without_retry_after(
    session: aiohttp.ClientSession, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    policy = RetryPolicy(max_attempts=5, backoff=api_backoff(1.0, 4.0))
    client = OmniClient(session, server.base_url, API_KEY, create_retry=policy, sleep=sleep)
    server.then(kling(429, 1303))
    with pytest.raises(ApiError):
        await client.create(REQUEST)
    low = [1.0, 1.0, 2.0, 2.0]  # equal jitter: [ceiling/2, ceiling], never below initial
    high = [1.0, 2.0, 4.0, 4.0]
    assert len(sleep.delays) == 4
    assert all(lo <= d <= hi for lo, d, hi in zip(low, sleep.delays, high, strict=True))


# -- query --------------------------------------------------------------------------------------


async def test_query_reads_a_snapshot(client: OmniClient, server: ScriptedServer) -> None:
    url = "https://cdn.example/t1.mp4"
    server.then(native("succeed", task_result={"videos": [{"url": url, "duration": "5.0"}]}))
    snapshot = await client.query("t1")
    assert (snapshot.task_id, snapshot.status, snapshot.video_url) == (
        "t1",
        TaskStatus.SUCCEEDED,
        url,
    )
    assert server.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert server.paths() == [f"{OMNI_PATH}/t1"]


async def test_query_task_ids_are_opaque_and_quoted(
    client: OmniClient, server: ScriptedServer
) -> None:
    server.then(native("processing"))
    snapshot = await client.query("a/b c")
    assert server.paths() == [f"{OMNI_PATH}/a%2Fb%20c"]
    assert snapshot.task_id == "t1"  # the API's own id, whatever key found the task


async def test_a_lookup_by_external_id_reports_the_apis_own_id(
    client: OmniClient, server: ScriptedServer
) -> None:
    server.then(Reply(body=json.dumps({"code": 0, "data": {"task_status": "processing"}})))
    assert (await client.query("kob-123")).task_id == "kob-123"  # no id in the body: ours


async def test_a_query_timeout_is_retried(client: OmniClient, server: ScriptedServer) -> None:
    server.then(Reply(delay_s=2.0), Reply(delay_s=2.0), native("processing"))
    snapshot = await client.query("t1")
    assert snapshot.status is TaskStatus.RUNNING
    assert len(server.seen) == 3


@pytest.mark.parametrize(
    "bad",
    [
        Reply(body='{"code":0,"data":{"task_id":"t1","task_st'),
        Reply(drop=True),
        Reply(status=502, body="<html></html>", content_type="text/html"),
        Reply(status=504, body=""),
        Reply(status=524, body=""),
        kling(429, 1302),
    ],
)
async def test_transient_query_failures_are_retried(
    client: OmniClient, server: ScriptedServer, bad: Reply
) -> None:
    server.then(bad, native("submitted"))
    assert (await client.query("t1")).status is TaskStatus.QUEUED
    assert len(server.seen) == 2


async def test_query_retries_run_out(
    client: OmniClient, server: ScriptedServer, sleep: RecordingSleep
) -> None:
    server.then(Reply(status=503, body=""))
    with pytest.raises(ApiError) as caught:
        await client.query("t1")
    assert caught.value.kind is A.TRANSIENT
    assert len(server.seen) == POLICY.max_attempts


@pytest.mark.parametrize(
    "reply, kind",
    [
        (
            Reply(
                status=400, body='{"code":"task_not_exist","message":"task_not_exist","data":null}'
            ),
            A.NOT_FOUND,
        ),
        (kling(404, 1203), A.NOT_FOUND),
        (Reply(status=401, body='{"error":{"message":"Invalid token"}}'), A.AUTH),
    ],
)
async def test_final_query_failures_are_not_retried(
    client: OmniClient, server: ScriptedServer, reply: Reply, kind: ApiErrorKind
) -> None:
    server.then(reply)
    with pytest.raises(ApiError) as caught:
        await client.query("t1")
    assert caught.value.kind is kind
    assert len(server.seen) == 1


# -- secrets ------------------------------------------------------------------------------------


async def test_the_api_key_appears_in_no_error_repr_or_log(
    client: OmniClient, server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    echo = json.dumps({"error": {"message": f"Invalid token {API_KEY}"}})
    server.then(Reply(status=401, body=echo))
    caplog.set_level(logging.DEBUG, logger="bot.omni.client")
    with pytest.raises(ApiError) as caught:
        await client.create(REQUEST)
    texts = [str(caught.value), caught.value.detail, caught.value.log_line(), repr(client)]
    texts.append(caplog.text)
    assert caplog.records, "the failure was logged"
    assert all(API_KEY not in text for text in texts)


def test_a_session_carrying_credentials_is_refused() -> None:
    async def build() -> None:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer x"}) as leaky:
            OmniClient(leaky, "http://127.0.0.1:1", API_KEY)

    with pytest.raises(ValueError, match="credentials"):
        asyncio.run(build())


# -- retry policy -------------------------------------------------------------------------------


@given(retry_number=st.integers(1, 200), unit=st.floats(0, 1, exclude_max=True))
def test_api_backoff_stays_between_initial_and_max(retry_number: int, unit: float) -> None:
    delay = api_backoff(1.0, 30.0).delay_s(retry_number, random_unit=unit)
    assert 1.0 <= delay <= 30.0


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# -- download -----------------------------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def leftovers(directory: Path) -> list[Path]:
    """Files in `directory` (a sync helper: these tests may block, the client may not)."""
    return sorted(directory.iterdir())


async def test_download_streams_to_disk_without_the_api_key(
    client: OmniClient, server: ScriptedServer, tmp_path: Path
) -> None:
    chunks = [PAYLOAD[i : i + 100_000] for i in range(0, len(PAYLOAD), 100_000)]
    server.then(Reply(chunks=chunks, length=len(PAYLOAD), content_type="video/mp4"))
    dest = tmp_path / "out" / "t1.mp4"
    result = await client.download(
        f"{server.base_url}/files/t1.mp4?sig=abc", dest, max_bytes=2 << 20, chunk_size=256 * 1024
    )
    assert await asyncio.to_thread(dest.read_bytes) == PAYLOAD
    assert (result.path, result.size_bytes) == (dest, len(PAYLOAD))
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert result.content_type == "video/mp4"
    assert leftovers(dest.parent) == [dest]  # no .part left behind
    assert "Authorization" not in server.seen[0].headers


async def test_download_refuses_a_declared_size_over_the_cap(
    client: OmniClient, server: ScriptedServer, tmp_path: Path
) -> None:
    server.then(Reply(chunks=[PAYLOAD], length=len(PAYLOAD), content_type="video/mp4"))
    with pytest.raises(ResultTooLarge) as caught:
        await client.download(f"{server.base_url}/f.mp4", tmp_path / "f.mp4", max_bytes=1000)
    assert caught.value.seen_bytes == len(PAYLOAD)
    assert leftovers(tmp_path) == []


async def test_download_aborts_a_stream_that_passes_the_cap(
    client: OmniClient, server: ScriptedServer, tmp_path: Path
) -> None:
    server.then(Reply(chunks=[PAYLOAD[:300_000]] * 4, content_type="video/mp4"))  # chunked
    with pytest.raises(ResultTooLarge):
        await client.download(
            f"{server.base_url}/f.mp4", tmp_path / "f.mp4", max_bytes=500_000, chunk_size=100_000
        )
    assert leftovers(tmp_path) == []


async def test_download_cut_short_removes_the_partial_file(
    client: OmniClient, server: ScriptedServer, tmp_path: Path
) -> None:
    server.then(Reply(chunks=[PAYLOAD[:200_000]], length=len(PAYLOAD), drop_after_chunks=True))
    with pytest.raises(ApiError) as caught:
        await client.download(
            f"{server.base_url}/f.mp4", tmp_path / "f.mp4", max_bytes=2 << 20, chunk_size=50_000
        )
    assert caught.value.kind is A.TRANSIENT
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "status, kind", [(404, A.NOT_FOUND), (403, A.NOT_FOUND), (503, A.TRANSIENT)]
)
async def test_download_http_errors(
    client: OmniClient,
    server: ScriptedServer,
    tmp_path: Path,
    status: int,
    kind: ApiErrorKind,
) -> None:
    server.then(Reply(status=status, body="nope", content_type="text/plain"))
    with pytest.raises(ApiError) as caught:
        await client.download(f"{server.base_url}/f.mp4", tmp_path / "f.mp4", max_bytes=1000)
    assert caught.value.kind is kind
    assert leftovers(tmp_path) == []

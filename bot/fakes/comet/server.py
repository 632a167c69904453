"""The fake CometAPI server: aiohttp routes over loopback plus a Python API for tests."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.http.listen import Served, serve

from .book import TaskBook
from .callbacks import CallbackPoster
from .clips import VideoFetch, fetch_and_check, video_urls
from .config import FakeCometConfig
from .faults import FaultKind, FaultPlan, InjectedFault, Route, drop_connection, fault_response
from .media import SAMPLE_MP4, stream_mp4
from .schema import unknown_fields
from .tasks import FakeTask, Outcome, TaskState
from .validation import validate_create_body
from .views import (
    comet_error,
    json_response,
    kling_error,
    kling_task_data,
    native_body,
    pick_shape,
    query_body,
    task_not_exist,
)

log = logging.getLogger(__name__)

CREATE_PATH = "/kling/v1/videos/omni-video"
AuthState = Literal["missing", "invalid", "valid"]
# Base64 images make large bodies; CometAPI's real limit is undocumented (413 exists).
_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class RecordedRequest:
    """One request as the fake saw it; the API key itself is never stored."""

    at: float  # wall clock, time.time()
    method: str
    path: str
    query: dict[str, str]
    body: object | None  # parsed JSON, None when absent or unparseable
    auth: AuthState
    status: int | None = None  # None: no answer was sent (dropped or cancelled)
    fault: FaultKind | None = None
    task_id: str | None = None  # the task created or looked up
    unknown_fields: tuple[str, ...] = ()


_RECORD = web.RequestKey("fake_comet_record", RecordedRequest)


class FakeCometAPI(Served):
    """A loopback CometAPI for Kling Omni video: create, query, callbacks, files, faults."""

    def __init__(self, config: FakeCometConfig | None = None) -> None:
        self.config = config or FakeCometConfig()
        self.requests: list[RecordedRequest] = []
        self._faults = FaultPlan()
        self._rng = random.Random(self.config.seed)
        self._book = TaskBook(self.config, self._rng, self.now_mono)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base_url: str | None = None
        self._asset = b""
        self._session: aiohttp.ClientSession | None = None
        self.video_fetches: list[VideoFetch] = []  # every video_url fetched, in order
        self.callbacks = CallbackPoster(
            self.config, self._client_session, self.now_mono, lambda: self.files_base_url
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and serve; `port=0` picks a free port (see `base_url`)."""
        if self._runner is not None:
            raise RuntimeError("the fake CometAPI is already running")
        self._loop = asyncio.get_running_loop()
        self._asset = await asyncio.to_thread(SAMPLE_MP4.read_bytes)
        app = web.Application(middlewares=[self._middleware], client_max_size=_MAX_BODY_BYTES)
        app.router.add_post(CREATE_PATH, self._create)
        app.router.add_get(CREATE_PATH, self._list)
        app.router.add_get(CREATE_PATH + "/{task_id}", self._query)
        app.router.add_get("/files/{name}", self._file)
        # handler_cancellation: a client that gives up on a SLOW answer frees its handler.
        self._runner, self._base_url = await serve(
            app, host, port, shutdown_timeout=1.0, handler_cancellation=True
        )
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close the listener and every connection; safe to call twice."""
        await self.callbacks.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        if self._session is not None:
            await self._session.close()
        self._session = None

    def _client_session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "start() the fake CometAPI first"
        return self._session

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, the value for the client's `base_url`."""
        if self._base_url is None:
            raise RuntimeError("start() the fake CometAPI first")
        return self._base_url

    @property
    def files_base_url(self) -> str:
        """Where result URLs point: `config.public_base_url`, else `base_url`."""
        return (self.config.public_base_url or self.base_url).rstrip("/")

    # -- Python API for tests ----------------------------------------------------------------

    def now_mono(self) -> float:
        """The clock task states are computed on (the serving loop's monotonic time)."""
        return self._loop.time() if self._loop is not None else time.monotonic()

    def inject(
        self,
        kind: FaultKind | str,
        *,
        route: Route | str = Route.CREATE,
        times: int = 1,
        retry_after_s: float | None = None,
        delay_s: float = 5.0,
        after_handling: bool = False,
    ) -> None:
        """Answer the next `times` requests on `route` with `kind` (queued in call order).

        `after_handling` handles each request first (a create makes its task), then answers
        with the fault instead: a 524 after the task was made, rather than before.
        """
        self._faults.add(
            InjectedFault(
                FaultKind(kind), Route(route), times, retry_after_s, delay_s, after_handling
            )
        )

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet."""
        self._faults.clear()

    @property
    def pending_faults(self) -> list[InjectedFault]:
        """Injected faults still waiting, oldest first."""
        return self._faults.pending

    def creates(self) -> list[RecordedRequest]:
        """Every create attempt (accepted, refused and faulted), in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path == CREATE_PATH]

    def accepted_creates(self) -> list[RecordedRequest]:
        """Create attempts that made a task (a SLOW or `after_handling` fault still makes one)."""
        return [r for r in self.creates() if r.task_id is not None]

    @property
    def tasks(self) -> dict[str, FakeTask]:
        """Every accepted task by task_id (live: the fake adds to it)."""
        return self._book.tasks

    def state_of(self, task_id: str) -> TaskState:
        """The state a query would see now."""
        return self._book.state_of(task_id)

    def active_task_ids(self) -> list[str]:
        """Tasks holding a concurrency slot now."""
        return self._book.active_task_ids()

    async def use_result_file(self, path: Path) -> None:
        """Serve this MP4 as every result from now on (the default is a 320×180 sample)."""
        self._asset = await asyncio.to_thread(path.read_bytes)

    def finish(self, task_id: str, outcome: Outcome = "succeed", reason: str | None = None) -> None:
        """End a running task now; `failed` uses `reason` or `config.failure_message`."""
        self._book.finish(task_id, outcome, reason)
        self.callbacks.wake(task_id)

    def set_timings(
        self,
        task_id: str | None = None,
        *,
        submitted_s: float | None = None,
        processing_s: float | None = None,
    ) -> None:
        """Change T1/T2 of one task (from its creation), or the defaults for new tasks."""
        if task_id is not None:
            self._book.set_timings(task_id, submitted_s=submitted_s, processing_s=processing_s)
            self.callbacks.wake(task_id)
            return
        if submitted_s is not None:
            self.config.submitted_s = submitted_s
        if processing_s is not None:
            self.config.processing_s = processing_s

    # -- request plumbing ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        record = RecordedRequest(
            at=time.time(),
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=None,
            auth=self._auth_state(request),
        )
        self.requests.append(record)
        request[_RECORD] = record
        try:
            if request.body_exists:
                record.body = _parse_json(await request.read())
            if self.config.latency_s > 0:
                await asyncio.sleep(self.config.latency_s)
            fault = None
            if (route := _route_of(request)) is not None:
                fault = self._faults.take(route, fault_rate=self.config.fault_rate, rng=self._rng)
            record.fault = fault.kind if fault else None
            response = await self._answer(request, handler, fault)
        except web.HTTPException as exc:  # 404, 405, 413: aiohttp answers, we record
            record.status = exc.status
            raise
        if fault is None or not fault.kind.drops_connection:
            record.status = response.status
        fault_name = fault.kind.value if fault else "none"
        log.debug(
            "%s %s -> %s task_id=%s fault=%s",
            request.method,
            request.path,
            record.status,
            record.task_id,
            fault_name,
        )
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, fault: InjectedFault | None
    ) -> web.StreamResponse:
        if fault is None:
            return await handler(request)
        if fault.after_handling:
            await handler(request)  # a create makes its task; the fault replaces the answer
        if fault.kind is FaultKind.SLOW:
            # Handle first, then stall: a slow create has made (and billed) its task.
            response = await handler(request)
            await asyncio.sleep(fault.delay_s)
            return response
        if fault.kind is FaultKind.SLOW_NOT_CREATED:
            await asyncio.sleep(fault.delay_s)
        elif fault.kind.drops_connection:
            drop_connection(request, is_reset=fault.kind is FaultKind.CONNECTION_RESET)
            return web.Response(status=204)  # never sent: the transport is gone
        return fault_response(fault)

    def _auth_state(self, request: web.Request) -> AuthState:
        header = request.headers.get("Authorization")
        if not header:
            return "missing"
        scheme, _, token = header.partition(" ")
        is_valid = scheme.lower() == "bearer" and token.strip() == self.config.api_key
        return "valid" if is_valid else "invalid"

    def _refuse_auth(self, request: web.Request) -> web.Response | None:
        auth = _record_of(request).auth
        if auth == "valid":
            return None
        text = "No token provided" if auth == "missing" else "Invalid token"
        return json_response(comet_error(text), status=401)

    # -- routes --------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refuse_auth(request)) is not None:
            return refusal
        record = _record_of(request)
        body = record.body
        if request.content_type != "application/json" or not isinstance(body, dict):
            message = "body: must be a JSON object sent as application/json"
            return json_response(kling_error(1200, message), status=400)
        record.unknown_fields = tuple(unknown_fields(body))
        if (video_refusal := await self._refuse_videos(body)) is not None:
            return json_response(kling_error(1201, video_refusal), status=400)
        status, payload, task = self._book.create(body)
        record.task_id = task.task_id if task else None
        callback_url = body.get("callback_url")
        if task is not None and isinstance(callback_url, str):
            self.callbacks.watch(task, callback_url)
        return json_response(payload, status=status)

    async def _refuse_videos(self, body: dict[str, object]) -> str | None:
        """Fetch every `video_url` of a body that is otherwise valid; the refusal, if any."""
        if not self.config.fetch_videos or validate_create_body(body) is not None:
            return None  # the book refuses an invalid body with its own message
        assert self._session is not None
        for url in video_urls(body):
            fetch = await fetch_and_check(self._session, url)
            self.video_fetches.append(fetch)
            if fetch.refusal is not None:
                log.debug("video refused: %s (%s)", fetch.refusal, fetch.status)
                return fetch.refusal
        return None

    async def _query(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._refuse_auth(request)) is not None:
            return refusal
        task = self._book.find(request.match_info["task_id"])
        if task is None:
            return task_not_exist()
        _record_of(request).task_id = task.task_id
        body = query_body(
            task,
            self.now_mono(),
            shape=pick_shape(self.config.query_shape, self._rng),
            is_new_api_quirk=self.config.new_api_quirk,
            files_base_url=self.files_base_url,
        )
        return json_response(body)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        """Kling's list form: `?pageNum=1&pageSize=30`, newest first, native shape only."""
        if (refusal := self._refuse_auth(request)) is not None:
            return refusal
        try:
            page = int(request.query.get("pageNum", "1"))
            size = int(request.query.get("pageSize", "30"))
        except ValueError:
            page = size = 0
        if not (1 <= page <= 1000 and 1 <= size <= 500):
            message = "pageNum: 1 to 1000 and pageSize: 1 to 500"
            return json_response(kling_error(1201, message), status=400)
        newest = sorted(self.tasks.values(), key=lambda t: t.created_mono, reverse=True)
        now = self.now_mono()
        items = [
            kling_task_data(task, now, self.files_base_url)
            for task in newest[(page - 1) * size : page * size]
        ]
        return json_response(native_body(items))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """The result MP4 (and the watermarked copy); like a CDN, it needs no key."""
        name = request.match_info["name"]
        is_watermark = name.endswith("_watermark.mp4")
        task_id = name.removesuffix("_watermark.mp4").removesuffix(".mp4")
        task = self.tasks.get(task_id)
        if (
            task is None
            or not name.endswith(".mp4")
            or task.state_at(self.now_mono()) is not TaskState.SUCCEED
            or (is_watermark and not task.is_watermarked)
        ):
            raise web.HTTPNotFound(text="Not Found")
        _record_of(request).task_id = task.task_id
        return await stream_mp4(request, self._asset, self.config.result_size_bytes)


def _record_of(request: web.Request) -> RecordedRequest:
    return request[_RECORD]  # the middleware records every request before routing


def _parse_json(raw: bytes) -> object | None:
    try:
        parsed: object = json.loads(raw)
    except ValueError:  # includes invalid UTF-8
        return None
    return parsed


def _route_of(request: web.Request) -> Route | None:
    if request.path.startswith("/files/"):
        return Route.FILE
    if request.path == CREATE_PATH and request.method == "POST":
        return Route.CREATE
    if request.path.startswith(CREATE_PATH):
        return Route.QUERY
    return None

"""The CometAPI Kling Omni client: create, query and download over one aiohttp session.

This module does the I/O; `bot.omni.wire` does the JSON. Together they are the only code that
sees API JSON: callers get `CreatedTask`, `TaskSnapshot`, `Download` or an `ApiError`.

Retry rules: only RATE_LIMITED and TRANSIENT failures are resent. A create
whose outcome is unknown (timeout, connection lost after sending, unreadable 2xx) is AMBIGUOUS
and is never resent: the task may exist and be billed. A gateway timeout (504/524) on a create
that carries an `external_task_id` is TRANSIENT: it is resent with the same id, which Kling
refuses as a DUPLICATE if the first send made the task, instead of billing it twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import hdrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot.domain.backoff import Backoff
from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.request import OmniRequest
from bot.domain.telemetry import API_OK, NoTelemetry, Telemetry
from bot.omni.download import Download, ResultTooLarge, download_to_file
from bot.omni.errors import BASE_URL_HINT, classify_error, redact
from bot.omni.wire import (
    CreatedTask,
    TaskSnapshot,
    TaskStatus,
    build_create_body,
    normalize_query,
    parse_create_response,
)

__all__ = [
    "CreatedTask",
    "Download",
    "OmniClient",
    "ResultTooLarge",
    "RetryPolicy",
    "TaskSnapshot",
    "TaskStatus",
]

log = logging.getLogger(__name__)

OMNI_PATH = "/kling/v1/videos/omni-video"
# API answers are a few hundred bytes; a cap keeps a misconfigured base_url from filling memory.
_MAX_API_BODY_BYTES = 1 << 20
# Below the total timeout so that "never reached the server" surfaces as ConnectionTimeoutError,
# which is safe to retry even for a create.
_MAX_CONNECT_TIMEOUT_S = 10.0
# Longer than the gateways wait for Kling (Cloudflare's 524 comes after 100 s, a proxy's 504
# after about 60 s): their answer, which a create may retry, then arrives before our own timeout,
# which leaves the create ambiguous.
DEFAULT_CREATE_TIMEOUT_S = 125.0

Sleep = Callable[[float], Awaitable[None]]


def api_backoff(initial_s: float, max_s: float) -> Backoff:
    """The API's resends: equal jitter, and never sooner than `initial_s` (back off at least 1 s
    after a 1303, concurrency full)."""
    return Backoff(initial_s, max_s, jitter="equal", min_s=initial_s)


CREATE_BACKOFF = api_backoff(1.0, 30.0)
QUERY_BACKOFF = api_backoff(1.0, 10.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to send a request the API may accept later, and how long to wait between
    (tenacity runs the loop; the waits are the bot's one `Backoff`)."""

    max_attempts: int = 4
    backoff: Backoff = CREATE_BACKOFF

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


DEFAULT_CREATE_RETRY = RetryPolicy(max_attempts=4, backoff=CREATE_BACKOFF)
DEFAULT_QUERY_RETRY = RetryPolicy(max_attempts=3, backoff=QUERY_BACKOFF)


class OmniClient:
    """CometAPI's Kling Omni routes as typed calls; the API key goes only to `base_url`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        create_timeout_s: float = DEFAULT_CREATE_TIMEOUT_S,
        query_timeout_s: float = 15,
        create_retry: RetryPolicy = DEFAULT_CREATE_RETRY,
        query_retry: RetryPolicy = DEFAULT_QUERY_RETRY,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        telemetry: Telemetry | None = None,
        callback_url_for: Callable[[str], str] | None = None,
    ) -> None:
        # Downloads go to a CDN through the same session: a session-wide credential would leak.
        if hdrs.AUTHORIZATION in session.headers or session.auth is not None:
            raise ValueError("the session must not carry default credentials: pass api_key")
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._create_timeout_s = create_timeout_s
        self._query_timeout_s = query_timeout_s
        self._create_retry = create_retry
        self._query_retry = query_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._telemetry: Telemetry = telemetry or NoTelemetry()
        # The callback URL of a task, by external id (omni.callback_url is set); else polling only.
        self._callback_url_for = callback_url_for

    def __repr__(self) -> str:
        return f"OmniClient(base_url={self._base_url!r}, api_key='***')"

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self, request: OmniRequest, *, external_task_id: str | None = None
    ) -> CreatedTask:
        """Submit one video task; retried only while the API says "later", never when unsure.

        Raises `ApiError`; DUPLICATE means an earlier send with this `external_task_id` (this
        call's, or an earlier one's) made the task: look it up, don't send it again.
        """
        callback_url = None
        if self._callback_url_for is not None and external_task_id is not None:
            callback_url = self._callback_url_for(external_task_id)
        body = build_create_body(request, external_task_id, callback_url)
        subject = f"external_task_id={external_task_id}"
        has_external_id = external_task_id is not None
        async for attempt in self._retrying(self._create_retry, "create", subject):
            with attempt:
                number = attempt.retry_state.attempt_number
                return await self._create_once(body, number, has_external_id=has_external_id)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _create_once(
        self, body: dict[str, object], attempt: int, *, has_external_id: bool
    ) -> CreatedTask:
        url = self._base_url + OMNI_PATH
        try:
            async with self._session.post(
                url,
                json=body,
                headers=self._auth_headers(),
                timeout=_timeout(self._create_timeout_s),
                allow_redirects=False,  # a redirect means a wrong base_url
            ) as resp:
                status, content_type = resp.status, resp.content_type
                retry_after = resp.headers.get(hdrs.RETRY_AFTER)
                try:
                    text = await _read_capped(resp)
                except (TimeoutError, aiohttp.ClientError):
                    if 200 <= status < 300:
                        raise  # accepted, but we cannot read the task id: ambiguous below
                    text = ""  # a refusal stays a refusal when its body is lost
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            error = ApiError(ApiErrorKind.TRANSIENT, self._describe("could not connect", exc))
            raise self._logged("POST", OMNI_PATH, None, attempt, error) from None
        except TimeoutError:
            error = ApiError(
                ApiErrorKind.AMBIGUOUS,
                f"no answer within {self._create_timeout_s:g} s; the task may exist",
            )
            raise self._logged("POST", OMNI_PATH, None, attempt, error) from None
        except aiohttp.InvalidURL:
            error = ApiError(ApiErrorKind.UNKNOWN, f"invalid URL: {BASE_URL_HINT}")
            raise self._logged("POST", OMNI_PATH, None, attempt, error) from None
        except aiohttp.ClientError as exc:
            # The request may have reached the server before the connection broke.
            error = ApiError(ApiErrorKind.AMBIGUOUS, self._describe("connection lost", exc))
            raise self._logged("POST", OMNI_PATH, None, attempt, error) from None
        try:
            if not 200 <= status < 300:
                raise classify_error(
                    status,
                    text,
                    content_type,
                    retry_after,
                    is_create=True,
                    has_external_id=has_external_id,
                    secrets=self._secrets,
                )
            created = parse_create_response(status, _loads_or_none(text))
        except ApiError as error:
            raise self._logged("POST", OMNI_PATH, status, attempt, error) from None
        self._telemetry.api_called("create", API_OK)
        log.info(
            "omni POST %s -> %d attempt=%d api_task_id=%s",
            OMNI_PATH,
            status,
            attempt,
            created.task_id,
        )
        return created

    # -- query ----------------------------------------------------------------------------------

    async def query(self, task_id: str) -> TaskSnapshot:
        """The task's current state; transient failures and timeouts are retried."""
        if not task_id:
            raise ValueError("task_id is empty")
        async for attempt in self._retrying(self._query_retry, "query", f"api_task_id={task_id}"):
            with attempt:
                return await self._query_once(task_id, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _query_once(self, task_id: str, attempt: int) -> TaskSnapshot:
        path = f"{OMNI_PATH}/{quote(task_id, safe='')}"
        try:
            async with self._session.get(
                self._base_url + path,
                headers=self._auth_headers(),
                timeout=_timeout(self._query_timeout_s),
                allow_redirects=False,
            ) as resp:
                status, text = resp.status, await _read_capped(resp)
                content_type, retry_after = resp.content_type, resp.headers.get(hdrs.RETRY_AFTER)
        except TimeoutError:
            error = ApiError(
                ApiErrorKind.TRANSIENT, f"no answer within {self._query_timeout_s:g} s"
            )
            raise self._logged("GET", path, None, attempt, error, task_id) from None
        except aiohttp.InvalidURL:
            error = ApiError(ApiErrorKind.UNKNOWN, f"invalid URL: {BASE_URL_HINT}")
            raise self._logged("GET", path, None, attempt, error, task_id) from None
        except aiohttp.ClientError as exc:
            error = ApiError(ApiErrorKind.TRANSIENT, self._describe("connection failed", exc))
            raise self._logged("GET", path, None, attempt, error, task_id) from None
        try:
            if not 200 <= status < 300:
                raise classify_error(
                    status, text, content_type, retry_after, is_create=False, secrets=self._secrets
                )
            payload = _loads_or_none(text)
            if payload is None:
                raise ApiError(
                    ApiErrorKind.TRANSIENT, "query answered with a body that is not JSON"
                )
            snapshot = normalize_query(payload, task_id=task_id)
        except ApiError as error:
            raise self._logged("GET", path, status, attempt, error, task_id) from None
        # snapshot.task_id is the API's own id (the polled one only if the body gives none): a
        # task looked up by its external id must be adopted under Kling's id, not ours.
        self._telemetry.api_called("query", API_OK)
        level = logging.INFO if snapshot.status.is_terminal else logging.DEBUG
        log.log(
            level,
            "omni GET %s -> %d attempt=%d api_task_id=%s status=%s",
            OMNI_PATH,
            status,
            attempt,
            task_id,
            snapshot.status.value,
        )
        return snapshot

    # -- download -------------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        chunk_size: int = 1 << 20,
        timeout_s: float = 600,
    ) -> Download:
        """Stream a result video to `dest` (via `.part`, fsync, rename), at most max_bytes.

        Raises `ResultTooLarge`, or `ApiError` (NOT_FOUND for a gone URL, TRANSIENT otherwise).
        """
        return await download_to_file(
            self._session,
            url,
            dest,
            max_bytes=max_bytes,
            chunk_size=chunk_size,
            timeout_s=timeout_s,
        )

    # -- shared plumbing ------------------------------------------------------------------------

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def _auth_headers(self) -> dict[str, str]:
        return {hdrs.AUTHORIZATION: f"Bearer {self._api_key}", hdrs.ACCEPT: "application/json"}

    def _describe(self, what: str, exc: BaseException) -> str:
        return redact(f"{what}: {type(exc).__name__}: {exc}", self._secrets)

    def _retrying(self, policy: RetryPolicy, operation: str, subject: str) -> AsyncRetrying:
        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            retry_after = error.retry_after_s if isinstance(error, ApiError) else None
            return policy.backoff.delay_s(
                state.attempt_number, retry_after_s=retry_after, random_unit=self._rng.random()
            )

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            kind = error.kind.value if isinstance(error, ApiError) else type(error).__name__
            log.warning(
                "omni %s retry: attempt=%d kind=%s wait_s=%.2f %s",
                operation,
                state.attempt_number,
                kind,
                delay,
                subject,
            )

        return AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, ApiError) and exc.is_retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _logged(
        self,
        method: str,
        path: str,
        status: int | None,
        attempt: int,
        error: ApiError,
        task_id: str | None = None,
    ) -> ApiError:
        self._telemetry.api_called("create" if method == "POST" else "query", error.kind.value)
        log.warning(
            "omni %s %s -> %s attempt=%d api_task_id=%s %s",
            method,
            path,
            status if status is not None else "no answer",
            attempt,
            task_id,
            error.log_line(),
        )
        return error


def _timeout(total_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s, connect=min(_MAX_CONNECT_TIMEOUT_S, total_s / 2))


async def _read_capped(resp: aiohttp.ClientResponse) -> str:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > _MAX_API_BODY_BYTES:
            break  # the truncated text will not parse: unreadable, as it should be
    return body.decode("utf-8", errors="replace")


def _loads_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None

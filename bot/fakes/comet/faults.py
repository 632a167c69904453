"""Injected faults: what can go wrong between the bot and CometAPI, on demand or at random."""

from __future__ import annotations

import math
import random
import socket
import struct
from dataclasses import dataclass, replace
from enum import StrEnum

from aiohttp import web

from .views import comet_error, json_response, kling_error, relay_error


class Route(StrEnum):
    """Which requests a fault applies to."""

    CREATE = "create"  # POST /kling/v1/videos/omni-video
    QUERY = "query"  # GET one task, or the task list
    FILE = "file"  # GET /files/<task_id>.mp4
    ANY = "any"


class FaultKind(StrEnum):
    """Kling's and the gateway's error answers, plus the network failures a client must survive."""

    GATEWAY_429 = "gateway_429"  # CometAPI envelope with Retry-After
    GATEWAY_429_NO_RETRY_AFTER = "gateway_429_no_retry_after"
    KLING_1302 = "kling_1302"  # 429, requests too fast
    KLING_1303 = "kling_1303"  # 429, parallel tasks over the resource-pack limit
    OUT_OF_CREDIT = "out_of_credit"  # 429, Kling 1102
    UNAUTHORIZED = "unauthorized"  # 401, CometAPI envelope
    SERVER_500_GATEWAY = "server_500_gateway"  # CometAPI envelope
    SERVER_500_KLING = "server_500_kling"  # Kling 5000
    UNAVAILABLE_503 = "unavailable_503"  # Kling 5001
    TIMEOUT_504 = "timeout_504"  # relay envelope carrying Kling 5002 as raw text
    TIMEOUT_524 = "timeout_524"  # Cloudflare's origin timeout, CometAPI envelope
    HTML_502 = "html_502"  # a proxy's text/html page
    MALFORMED_JSON = "malformed_json"  # HTTP 200, truncated JSON
    SLOW = "slow"  # handled normally (a create makes its task), answered after delay_s
    SLOW_NOT_CREATED = "slow_not_created"  # after delay_s a 504; nothing is created
    CONNECTION_CLOSE = "connection_close"  # closed without an answer
    CONNECTION_RESET = "connection_reset"  # TCP RST without an answer

    @property
    def drops_connection(self) -> bool:
        """True for the kinds that never send an HTTP answer."""
        return self in (FaultKind.CONNECTION_CLOSE, FaultKind.CONNECTION_RESET)


_RETRYABLE_STATUSES = (
    FaultKind.GATEWAY_429,
    FaultKind.GATEWAY_429_NO_RETRY_AFTER,
    FaultKind.KLING_1302,
    FaultKind.KLING_1303,
    FaultKind.SERVER_500_GATEWAY,
    FaultKind.SERVER_500_KLING,
    FaultKind.UNAVAILABLE_503,
    FaultKind.TIMEOUT_504,
    FaultKind.TIMEOUT_524,
    FaultKind.HTML_502,
)
# `fault_rate` draws only from faults a correct client survives without losing or doubling a
# task: on create, nothing ambiguous (no dropped connection, no unreadable 200).
RANDOM_MENU: dict[Route, tuple[FaultKind, ...]] = {
    Route.CREATE: _RETRYABLE_STATUSES,
    Route.QUERY: (
        *_RETRYABLE_STATUSES,
        FaultKind.MALFORMED_JSON,
        FaultKind.CONNECTION_CLOSE,
        FaultKind.CONNECTION_RESET,
    ),
    Route.FILE: (FaultKind.HTML_502, FaultKind.UNAVAILABLE_503, FaultKind.CONNECTION_RESET),
}

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# CometAPI may rewrite upstream 429 texts to this ("upstream load saturated, retry later").
_SATURATED = "当前分组上游负载已饱和，请稍后再试"


@dataclass
class InjectedFault:
    """A queued fault: `times` more matching requests get `kind`.

    `after_handling` handles the request first and then answers with the fault: a create has
    made (and billed) its task when the gateway gives up on it, e.g. a 524 after Kling's accept.
    """

    kind: FaultKind
    route: Route = Route.ANY
    times: int = 1
    retry_after_s: float | None = None
    delay_s: float = 5.0
    after_handling: bool = False


class FaultPlan:
    """The queue of deterministic faults, then the random menu at `fault_rate`."""

    def __init__(self) -> None:
        self._queue: list[InjectedFault] = []

    @property
    def pending(self) -> list[InjectedFault]:
        """Faults still waiting for a matching request, oldest first."""
        return list(self._queue)

    def add(self, fault: InjectedFault) -> None:
        """Queue `fault` behind any already waiting."""
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        if fault.delay_s < 0:
            raise ValueError("delay_s must be non-negative")
        if fault.after_handling and fault.kind in (FaultKind.SLOW, FaultKind.SLOW_NOT_CREATED):
            raise ValueError(f"{fault.kind} says itself whether the request is handled")
        self._queue.append(fault)

    def clear(self) -> None:
        """Forget every queued fault."""
        self._queue.clear()

    def take(self, route: Route, *, fault_rate: float, rng: random.Random) -> InjectedFault | None:
        """The fault for the next request on `route`, or None to answer it normally."""
        for queued in self._queue:
            if queued.route in (route, Route.ANY):
                queued.times -= 1
                if queued.times == 0:
                    self._queue.remove(queued)
                return replace(queued, times=1)
        if fault_rate > 0 and rng.random() < fault_rate:
            return InjectedFault(rng.choice(RANDOM_MENU[route]), route)
        return None


def fault_response(fault: InjectedFault) -> web.Response:
    """The HTTP answer for a fault that answers (all but SLOW and the dropped connections)."""
    kind = fault.kind
    response: web.Response
    if kind in (FaultKind.GATEWAY_429, FaultKind.GATEWAY_429_NO_RETRY_AFTER):
        text = _SATURATED if kind is FaultKind.GATEWAY_429 else "Rate limit reached for requests"
        response = json_response(comet_error(text, code="rate_limit_exceeded"), status=429)
    elif kind is FaultKind.KLING_1302:
        response = json_response(kling_error(1302, "request too fast, please slow down"), 429)
    elif kind is FaultKind.KLING_1303:
        response = json_response(kling_error(1303, "parallel task over resource pack limit"), 429)
    elif kind is FaultKind.OUT_OF_CREDIT:
        response = json_response(kling_error(1102, "resource pack exhausted or expired"), 429)
    elif kind is FaultKind.UNAUTHORIZED:
        response = json_response(comet_error("Invalid token"), status=401)
    elif kind is FaultKind.SERVER_500_GATEWAY:
        response = json_response(comet_error("Internal server error", code="server_error"), 500)
    elif kind is FaultKind.SERVER_500_KLING:
        response = json_response(kling_error(5000, "internal server error"), status=500)
    elif kind is FaultKind.UNAVAILABLE_503:
        response = json_response(kling_error(5001, "service temporarily unavailable"), 503)
    elif kind is FaultKind.TIMEOUT_504:
        # new-api relays the upstream body as a string in `message` (code fail_to_fetch_task).
        upstream = '{"code":5002,"message":"server internal timeout","request_id":"upstream"}'
        response = json_response(relay_error("fail_to_fetch_task", upstream), status=504)
    elif kind in (FaultKind.TIMEOUT_524, FaultKind.SLOW_NOT_CREATED):
        status = 524 if kind is FaultKind.TIMEOUT_524 else 504
        response = json_response(comet_error("upstream request timed out"), status=status)
    elif kind is FaultKind.HTML_502:
        response = web.Response(text=_HTML_502, status=502, content_type="text/html")
    elif kind is FaultKind.MALFORMED_JSON:
        text = '{"code":0,"message":"SUCCEED","data":{"task_id":"8781064845'
        response = web.Response(text=text, status=200, content_type="application/json")
    else:
        raise ValueError(f"{kind} does not answer with a response")
    retry_after_s = fault.retry_after_s
    if kind is FaultKind.GATEWAY_429 and retry_after_s is None:
        retry_after_s = 1.0
    if retry_after_s is not None and kind is not FaultKind.GATEWAY_429_NO_RETRY_AFTER:
        # Retry-After carries whole seconds (RFC 9110 delay-seconds).
        response.headers["Retry-After"] = str(math.ceil(retry_after_s))
    return response


def drop_connection(request: web.Request, *, is_reset: bool) -> None:
    """Close the client's connection without an answer; `is_reset` sends a TCP RST."""
    transport = request.transport
    if transport is None:
        return
    if is_reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 makes close() discard the connection with an RST instead of a FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()

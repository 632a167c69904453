"""CometAPI error envelopes → one `ApiError` a caller can act on.

Kling answers `{code, message, request_id}` with its business codes (1000-1304, 5000-5002);
CometAPI answers `{"error": {...}}` or a relay body `{"code": "<str>", "message", "data": null}`
whose message may be Kling's JSON as text, and may keep Kling's HTTP status or turn it into 400
(https://app.klingai.com/global/dev/document-api/apiReference/commonInfo,
https://apidoc.cometapi.com/errors/error-codes-handling).

Pure: the HTTP status, the raw body and two headers in, a classified error out. Never assumes
JSON (HTML error pages, empty and truncated bodies happen) and never lets the API key through.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.domain.errors import ApiError, ApiErrorKind

# -- reading any JSON safely ------------------------------------------------------------------


def as_object(value: object) -> dict[str, object]:
    """`value` if it is a JSON object, else an empty one: every lookup below is total."""
    return value if isinstance(value, dict) else {}


def as_text(value: object) -> str:
    """A JSON string or number as text; anything else (null, objects) as ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


# -- errors -----------------------------------------------------------------------------------

BASE_URL_HINT = "check omni.base_url"
_MAX_DETAIL_CHARS = 300

_KLING_CODES: dict[int, tuple[ApiErrorKind, str]] = {
    1000: (ApiErrorKind.AUTH, "authentication failed"),
    1001: (ApiErrorKind.AUTH, "authorization header empty"),
    1002: (ApiErrorKind.AUTH, "authorization invalid"),
    1003: (ApiErrorKind.AUTH, "token not yet valid"),
    1004: (ApiErrorKind.AUTH, "token expired"),
    # 1100 and 1304 are account or IP problems only the operator can fix: AUTH, not retried.
    1100: (ApiErrorKind.AUTH, "account exception"),
    1101: (ApiErrorKind.OUT_OF_CREDIT, "account in arrears"),
    1102: (ApiErrorKind.OUT_OF_CREDIT, "resource pack used up or expired"),
    1103: (ApiErrorKind.AUTH, "the model or endpoint is not enabled for this key"),
    1200: (ApiErrorKind.INVALID_REQUEST, "invalid request parameters"),
    1201: (ApiErrorKind.INVALID_REQUEST, "invalid parameter"),
    1202: (ApiErrorKind.INVALID_REQUEST, "invalid method"),
    1203: (ApiErrorKind.INVALID_REQUEST, "resource not found"),
    1300: (ApiErrorKind.MODERATED, "platform policy triggered"),
    1301: (ApiErrorKind.MODERATED, "content security policy triggered"),
    1302: (ApiErrorKind.RATE_LIMITED, "requests too fast"),
    1303: (ApiErrorKind.RATE_LIMITED, "concurrency over the resource pack limit"),
    1304: (ApiErrorKind.AUTH, "IP whitelist policy"),
    5000: (ApiErrorKind.TRANSIENT, "internal server error"),
    5001: (ApiErrorKind.TRANSIENT, "temporarily unavailable"),
    5002: (ApiErrorKind.TRANSIENT, "internal timeout"),
}
# new-api (the gateway software CometAPI runs) rewrites upstream 429s to
# "当前分组上游负载已饱和，请稍后再试".
_SATURATED = ("负载已饱和", "上游负载")
_QUOTA_WORDS = ("quota", "credit", "balance", "余额", "额度")
_HIDDEN_CODE = re.compile(r'"code"\s*:\s*"?(\d{4})\b')
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")


@dataclass(frozen=True)
class _Envelope:
    """What any error body says, whichever of the three envelopes it used."""

    kling_code: int | None
    text_code: str | None
    message: str
    is_html: bool


def classify_error(
    http_status: int,
    body_text: str,
    content_type: str | None,
    retry_after_header: str | None,
    *,
    is_create: bool,
    has_external_id: bool = False,
    secrets: tuple[str, ...] = (),
    now: datetime | None = None,
) -> ApiError:
    """Turn a failed answer into one `ApiError`: Kling code first, then the HTTP status.

    `has_external_id`: the create carried an `external_task_id`, so sending it again is refused
    as a duplicate rather than billed twice, and a gateway timeout may be retried.
    """
    payload: object = None
    if body_text.strip():
        try:
            payload = json.loads(body_text)
        except ValueError:
            payload = None  # HTML pages, truncated JSON and plain text all end up here
    return classify_parsed(
        http_status,
        payload,
        body_text,
        content_type or "",
        is_create=is_create,
        has_external_id=has_external_id,
        retry_after_s=parse_retry_after(retry_after_header, now),
        secrets=secrets,
    )


def classify_parsed(
    http_status: int,
    payload: object,
    raw_text: str,
    content_type: str,
    *,
    is_create: bool,
    has_external_id: bool = False,
    retry_after_s: float | None = None,
    secrets: tuple[str, ...] = (),
) -> ApiError:
    env = _read_envelope(payload, raw_text, content_type)
    kind, detail = _kind(http_status, env, is_create=is_create, has_external_id=has_external_id)
    code: int | str | None = env.kling_code if env.kling_code is not None else env.text_code
    return ApiError(
        kind,
        redact(detail, secrets),
        http_status=http_status,
        api_code=code,
        retry_after_s=retry_after_s,
    )


def _kind(
    status: int, env: _Envelope, *, is_create: bool, has_external_id: bool
) -> tuple[ApiErrorKind, str]:
    """Kling's codes, then the gateway's statuses and words: the kind and, when it needs one, a
    detail."""
    message = env.message
    if is_create and _is_duplicate_refusal(status, env):
        return ApiErrorKind.DUPLICATE, message
    if env.kling_code in _KLING_CODES:
        kind, meaning = _KLING_CODES[env.kling_code]
        if env.kling_code == 1203 and not is_create:
            return ApiErrorKind.NOT_FOUND, message or "task not found"
        return kind, message or meaning
    lowered = message.lower()
    if env.text_code == "task_not_exist" or "task_not_exist" in lowered:
        return ApiErrorKind.NOT_FOUND, message
    if any(word in message for word in _SATURATED):
        return ApiErrorKind.RATE_LIMITED, message
    has_quota_words = any(word in lowered for word in _QUOTA_WORDS)
    if 300 <= status < 400:
        return ApiErrorKind.UNKNOWN, f"HTTP {status} redirect: {BASE_URL_HINT}"
    if status == 401:
        return ApiErrorKind.AUTH, message
    if status == 402 or (status in (403, 429) and has_quota_words):
        return ApiErrorKind.OUT_OF_CREDIT, message
    if status == 403:
        return ApiErrorKind.AUTH, message
    if status == 404 and (is_create or env.is_html):
        # The create route never 404s and a query 404 from the API is JSON: a wrong path.
        return ApiErrorKind.UNKNOWN, _with_hint(404, message)
    if status == 404:
        return ApiErrorKind.NOT_FOUND, message
    if status == 413:
        return ApiErrorKind.INVALID_REQUEST, "the request is too large: use image URLs, not base64"
    if status in (400, 422):
        return ApiErrorKind.INVALID_REQUEST, message
    if status == 408:
        return ApiErrorKind.TRANSIENT, message  # the server never read the whole request
    if status == 429:
        return ApiErrorKind.RATE_LIMITED, message
    if status == 500 and env.text_code == "invalid_request":
        return ApiErrorKind.INVALID_REQUEST, message
    if status in (504, 524) and is_create and not has_external_id:
        # A gateway timeout means the gateway gave up waiting for Kling, which may still have
        # made (and billed) the task. Retrying it is safe only when the create carries an
        # external_task_id: Kling refuses a second task with the same one.
        # Without one, a resend could bill a second video: treat it like a client timeout.
        return ApiErrorKind.AMBIGUOUS, f"gateway timeout (HTTP {status}): {message}"
    if 500 <= status < 600:
        return ApiErrorKind.TRANSIENT, message
    if env.is_html:
        return ApiErrorKind.UNKNOWN, _with_hint(status, message)
    return ApiErrorKind.UNKNOWN, f"HTTP {status}: {message}" if message else f"HTTP {status}"


_DUPLICATE_WORDS = ("already", "duplicate", "exist", "used", "unique", "重复", "已存在")


def _is_duplicate_refusal(status: int, env: _Envelope) -> bool:
    """Kling's answer to a reused external_task_id. Undocumented by Kling: a 400 with 1201
    naming the field is the likely form; the words keep a format complaint about it apart."""
    is_validation = env.kling_code in (1200, 1201) or (
        env.kling_code is None and status in (400, 409, 422)
    )
    lowered = env.message.lower()
    return (
        is_validation
        and "external_task_id" in lowered
        and any(word in lowered for word in _DUPLICATE_WORDS)
    )


def _with_hint(status: int, message: str) -> str:
    return (
        f"HTTP {status} {message}: {BASE_URL_HINT}"
        if message
        else f"HTTP {status}: {BASE_URL_HINT}"
    )


def _read_envelope(payload: object, raw_text: str, content_type: str, depth: int = 0) -> _Envelope:
    """Codes and message from the Kling, CometAPI `error` or task-relay envelope, or raw text."""
    head = raw_text.lstrip()[:20].lower()
    is_html = "html" in content_type.lower() or head.startswith(("<!doctype", "<html"))
    kling_code: int | None = None
    text_code: str | None = None
    message = ""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = as_text(error.get("message"))
            kling_code, text_code = _split_code(error.get("code"))
        elif isinstance(error, str):
            message = error
        message = message or as_text(payload.get("message")) or as_text(payload.get("msg"))
        outer_kling, outer_text = _split_code(payload.get("code"))
        kling_code = kling_code if kling_code is not None else outer_kling
        text_code = text_code or outer_text
    elif is_html:
        found = _TITLE.search(raw_text)
        message = f"HTML page ({found.group(1).strip()})" if found else "HTML page"
    if not message and not is_html and not isinstance(payload, dict):
        message = raw_text  # plain text or a JSON scalar: the body is the message
    # new-api's fail_to_fetch_task carries the raw upstream body, often Kling JSON, as `message`.
    if depth < 2 and message.lstrip().startswith("{"):
        try:
            inner_payload: object = json.loads(message)
        except ValueError:
            inner_payload = None
        if isinstance(inner_payload, dict):
            inner = _read_envelope(inner_payload, message, "", depth + 1)
            if kling_code is None or kling_code not in _KLING_CODES:
                kling_code = inner.kling_code
            message = inner.message or message
    if kling_code not in _KLING_CODES:
        hidden = _HIDDEN_CODE.search(message)
        if hidden is not None and int(hidden.group(1)) in _KLING_CODES:
            kling_code = int(hidden.group(1))
    return _Envelope(kling_code, text_code, _trim(message), is_html)


def _split_code(value: object) -> tuple[int | None, str | None]:
    """A `code` field as (number, word): 1303 and "1303" are numbers, "task_not_exist" a word."""
    if isinstance(value, bool):
        return None, None
    if isinstance(value, int):
        return value, None
    if isinstance(value, str) and value.strip():
        word = value.strip()
        return (int(word), None) if word.isdigit() else (None, word)
    return None, None


def _trim(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DETAIL_CHARS else flat[: _MAX_DETAIL_CHARS - 1] + "…"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Remove the given secrets and anything shaped like a bearer token or `sk-` key."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return _SK_KEY.sub("sk-***", _BEARER.sub("Bearer ***", text))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)

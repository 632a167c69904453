"""CometAPI Kling Omni JSON ↔ typed values: pure functions, no I/O.

The routes: https://apidoc.cometapi.com/api/video/kling/omni-video (create) and
https://apidoc.cometapi.com/api/video/kling/omni-query (query); the fields are Kling's
(https://app.klingai.com/global/dev/document-api/apiReference/model/OmniVideo).

With `bot.omni.client` (the aiohttp client) this is the only code that sees API JSON. It builds the
create body from an `OmniRequest`, reads both create reply shapes, normalises the three query
shapes into a `TaskSnapshot`. Error envelopes are read in `bot.omni.errors`.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.request import OmniRequest
from bot.omni.errors import as_object, as_text, classify_parsed

# -- typed results ----------------------------------------------------------------------------


class TaskStatus(enum.Enum):
    """Where the API says a task is; only SUCCEEDED and FAILED are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True when the task will not change any more."""
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


@dataclass(frozen=True)
class CreatedTask:
    """The API accepted a create: the task id to poll and what it said about it."""

    task_id: str
    status: TaskStatus = TaskStatus.QUEUED
    external_task_id: str | None = None


@dataclass(frozen=True)
class TaskSnapshot:
    """One query answer, whatever its shape; `failure_reason` is "" unless FAILED."""

    task_id: str
    status: TaskStatus
    video_url: str | None = None
    watermark_url: str | None = None
    failure_reason: str = ""
    progress_pct: int | None = None  # coarse gateway steps (10/20/30/100), for display only
    video_duration_s: float | None = None
    units_billed: str | None = None
    finished_at: datetime | None = None  # when the API says it ended (terminal states only)


# -- create body ------------------------------------------------------------------------------


def build_create_body(
    request: OmniRequest, external_task_id: str | None, callback_url: str | None = None
) -> dict[str, object]:
    """The JSON body of a create: strings for enums and duration, absent fields left out."""
    body: dict[str, object] = {"model_name": request.model, "prompt": request.prompt}
    if request.multi_shot:
        body["multi_shot"] = True
        body["shot_type"] = request.shot_type
        if request.shots:
            body["multi_prompt"] = [
                {"index": number, "prompt": shot.prompt, "duration": str(shot.duration_s)}
                for number, shot in enumerate(request.shots, start=1)
            ]
    if request.images:
        images: list[dict[str, object]] = []
        for image in request.images:
            item: dict[str, object] = {"image_url": image.url}
            if image.frame is not None:
                item["type"] = image.frame
            images.append(item)
        body["image_list"] = images
    if request.elements:
        body["element_list"] = [{"element_id": e.element_id} for e in request.elements]
    if request.videos:
        body["video_list"] = [
            {
                "video_url": v.url,
                "refer_type": v.refer_type,
                "keep_original_sound": "yes" if v.keep_original_sound else "no",
            }
            for v in request.videos
        ]
    body["mode"] = request.mode
    if request.aspect_ratio is not None:
        body["aspect_ratio"] = request.aspect_ratio
    if request.duration_s is not None:
        body["duration"] = str(request.duration_s)
    # Kling refuses sound with any input video; the model already forbids it, this is a backstop.
    body["sound"] = "on" if request.sound and not request.videos else "off"
    if request.watermark:
        body["watermark_info"] = {"enabled": True}
    if external_task_id is not None:
        body["external_task_id"] = external_task_id
    if callback_url is not None:
        body["callback_url"] = callback_url
    return body


# -- small readers of untrusted JSON -----------------------------------------------------------

# U3: Kling says 0, the wrapper "success"; some gateways echo HTTP 200 as the code.
_SUCCESS_CODES: frozenset[object] = frozenset({0, "0", 200, "200", "success"})


def _decoded(value: object) -> object:
    """The stored Kling payload, also when a gateway relays it as a JSON string."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            decoded: object = json.loads(value)
        except ValueError:
            return value
        return decoded
    return value


def _is_success_code(body: dict[str, object]) -> bool:
    if "code" not in body or body["code"] is None:
        return True
    code = body["code"]
    return code in _SUCCESS_CODES or (isinstance(code, str) and code.lower() == "success")


def _task_id(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


_STATUS_WORDS = {
    "submitted": TaskStatus.QUEUED,
    "not_start": TaskStatus.QUEUED,
    "queued": TaskStatus.QUEUED,
    "succeed": TaskStatus.SUCCEEDED,
    "success": TaskStatus.SUCCEEDED,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "failure": TaskStatus.FAILED,
}


def _status(word: object) -> TaskStatus:
    """Kling and wrapper words in one table; anything unknown is still running."""
    return _STATUS_WORDS.get(as_text(word).strip().lower(), TaskStatus.RUNNING)


# -- create reply -----------------------------------------------------------------------------


def parse_create_response(status: int, body: object) -> CreatedTask:
    """Read a create reply; raise `ApiError` for refusals and AMBIGUOUS for unreadable 2xx."""
    if not 200 <= status < 300:
        raise classify_parsed(status, body, json.dumps(body), "application/json", is_create=True)
    if not isinstance(body, dict):
        raise ApiError(
            ApiErrorKind.AMBIGUOUS, "create answered 2xx without a JSON object", http_status=status
        )
    if not _is_success_code(body):
        # A 2xx carrying a Kling refusal code: the API said no, nothing was created.
        raise classify_parsed(status, body, json.dumps(body), "application/json", is_create=True)
    data = as_object(body.get("data"))
    task_id = _task_id(data.get("task_id")) or _task_id(body.get("task_id"))
    task_id = task_id or _task_id(body.get("id"))
    if task_id is None:
        raise ApiError(
            ApiErrorKind.AMBIGUOUS, "create answered 2xx without a task id", http_status=status
        )
    external = as_text(as_object(data.get("task_info")).get("external_task_id")) or None
    word = data.get("task_status") or data.get("status") or body.get("status") or "submitted"
    return CreatedTask(task_id=task_id, status=_status(word), external_task_id=external)


# -- query reply ------------------------------------------------------------------------------

NO_URL_REASON = "The video service reported success but returned no video URL."
NO_REASON = "The video service gave no reason."


def normalize_query(body: object, *, task_id: str = "") -> TaskSnapshot:
    """Native, wrapper and wrapper3 query bodies → one `TaskSnapshot`.

    `task_id` is used when the body does not repeat it. A body that is not a task raises ApiError.
    """
    if not isinstance(body, dict):
        raise ApiError(ApiErrorKind.TRANSIENT, "query answered without a JSON object")
    if not _is_success_code(body):
        raise classify_parsed(200, body, json.dumps(body), "application/json", is_create=False)
    outer = as_object(body.get("data"))
    if not outer and "task_status" in body:
        outer = body  # a flat task object, as Kling's callbacks send it
    if not outer:
        raise ApiError(ApiErrorKind.TRANSIENT, "query answered without a `data` object")
    is_wrapper = "status" in outer and "task_status" not in outer
    if is_wrapper:
        inner = as_object(_decoded(outer.get("data")))
        nested = as_object(_decoded(inner.get("data")))
        if "task_status" in nested or "task_result" in nested:
            inner = nested  # wrapper3: the whole Kling response sits in data.data
        status = _status(outer.get("status"))
        fail_reason = as_text(outer.get("fail_reason")).strip()
        reason = as_text(inner.get("task_status_msg")).strip()
        if status is TaskStatus.FAILED and not reason:
            reason = fail_reason
        progress = _progress(outer.get("progress"))
        finished_at = _moment(inner.get("updated_at"), per_second=1000) or _moment(
            outer.get("finish_time"), per_second=1
        )
    else:
        inner = outer
        status = _status(outer.get("task_status"))
        fail_reason = ""
        reason = as_text(outer.get("task_status_msg")).strip()
        progress = None
        finished_at = _moment(outer.get("updated_at"), per_second=1000)
    videos = as_object(inner.get("task_result")).get("videos")
    video = as_object(videos[0]) if isinstance(videos, list) and videos else {}
    url = as_text(video.get("url")).strip() or None
    if status is TaskStatus.SUCCEEDED and url is None:
        # new-api stores the result URL in fail_reason or result_url: never a failure.
        for candidate in (fail_reason, as_text(outer.get("result_url")).strip()):
            if candidate.startswith(("http://", "https://")):
                url = candidate
                break
    if status is TaskStatus.SUCCEEDED and url is None:
        status, reason = TaskStatus.FAILED, NO_URL_REASON
    reason = (reason or NO_REASON) if status is TaskStatus.FAILED else ""
    units = as_text(inner.get("final_unit_deduction")) or None
    return TaskSnapshot(
        task_id=_task_id(outer.get("task_id")) or _task_id(inner.get("task_id")) or task_id,
        status=status,
        video_url=url,
        watermark_url=as_text(video.get("watermark_url")).strip() or None,
        failure_reason=reason,
        progress_pct=progress,
        video_duration_s=_seconds(video.get("duration")),
        units_billed=units,
        finished_at=finished_at if status.is_terminal else None,
    )


def _progress(value: object) -> int | None:
    """`"30%"` or 30 → 30, clamped to 0-100; anything unreadable → None."""
    try:
        pct = float(as_text(value).strip().rstrip("%"))
    except ValueError:
        return None
    return max(0, min(100, int(pct))) if math.isfinite(pct) else None


def _moment(value: object, *, per_second: int) -> datetime | None:
    """Unix time in ms (`per_second=1000`) or s → an aware UTC datetime; 0 or junk → None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    try:
        return datetime.fromtimestamp(number / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _seconds(value: object) -> float | None:
    """Kling's duration: `"5.041"` or 5.041 → 5.041; anything unreadable → None."""
    try:
        seconds = float(as_text(value))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# -- callback ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackHint:
    """What a callback claims: which task, and the status it says the task reached.

    A hint, never the truth: the bot queries the task and acts on the query's answer.
    """

    task_id: str | None  # the API's task id, if the body gives one
    external_task_id: str | None
    status: TaskStatus | None  # None when the body names no status


def parse_callback(body: object) -> CallbackHint:
    """Kling's flat task object, or the same wrapped in `{code, message, data}` (some gateways).

    Raises `ValueError` for a body that is not a task at all.
    """
    if not isinstance(body, dict):
        raise ValueError("a callback body is a JSON object")
    task = body
    if "task_status" not in body and "status" not in body:
        task = as_object(_decoded(body.get("data")))
    if "task_status" in task:
        word: object = task.get("task_status")
    else:
        word = task.get("status")  # a gateway's wrapper-shaped callback
    task_id = _task_id(task.get("task_id"))
    external = as_text(as_object(task.get("task_info")).get("external_task_id")).strip() or None
    if task_id is None and external is None:
        raise ValueError("a callback names a task by task_id or task_info.external_task_id")
    status = None if word is None or not as_text(word).strip() else _status(word)
    return CallbackHint(task_id=task_id, external_task_id=external, status=status)

"""JSON bodies the fake answers with: Kling and CometAPI envelopes, and the three query shapes."""

from __future__ import annotations

import json
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Literal

from aiohttp import web

from .tasks import FakeTask, TaskState

RenderedShape = Literal["native", "wrapper", "wrapper3"]

# Kling state -> new-api wrapper status and its coarse progress step.
_WRAPPER_STATUS = {
    TaskState.SUBMITTED: ("SUBMITTED", "10%"),
    TaskState.PROCESSING: ("IN_PROGRESS", "30%"),
    TaskState.SUCCEED: ("SUCCESS", "100%"),
    TaskState.FAILED: ("FAILURE", "100%"),
}


def json_response(
    payload: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer built from text, so the bytes are exactly `json.dumps(payload)`."""
    return web.Response(
        text=json.dumps(payload), status=status, headers=headers, content_type="application/json"
    )


def new_request_id() -> str:
    """A Kling-style request ID (a UUID)."""
    return str(uuid.uuid4())


def kling_error(code: int, message: str) -> dict[str, object]:
    """Kling's business-error body: `{code:int, message, request_id}`."""
    return {"code": code, "message": message, "request_id": new_request_id()}


def comet_error(
    message: str, *, error_type: str = "comet_api_error", code: str = ""
) -> dict[str, object]:
    """CometAPI's gateway envelope; its message ends with a request ID like the real one."""
    gateway_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
    return {
        "error": {
            "message": f"{message} (request id: {gateway_id})",
            "type": error_type,
            "param": "",
            "code": code,
        }
    }


def relay_error(code: str, message: str) -> dict[str, object]:
    """new-api's task-relay envelope, `{code:str, message, data:null}`."""
    return {"code": code, "message": message, "data": None}


def task_not_exist() -> web.Response:
    """The gateway's answer for an unknown or foreign task ID."""
    return json_response(relay_error("task_not_exist", "task_not_exist"), status=400)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def file_urls(task: FakeTask, files_base_url: str) -> tuple[str, str]:
    """The result URL and the watermarked copy's URL, both served by the fake."""
    base = f"{files_base_url}/files/{task.task_id}"
    return f"{base}.mp4", f"{base}_watermark.mp4"


def create_body(task: FakeTask) -> dict[str, object]:
    """The create's answer: the Kling envelope with `task_status: submitted` and times in ms."""
    created_ms = _ms(task.told(task.created_at))
    external_id = task.external_task_id
    return {
        "code": 0,
        "message": "SUCCEED",
        "request_id": new_request_id(),
        "data": {
            "task_id": task.task_id,
            "task_status": TaskState.SUBMITTED.value,
            "task_info": {"external_task_id": external_id} if external_id else {},
            "created_at": created_ms,
            "updated_at": created_ms,
        },
    }


def kling_task_data(task: FakeTask, now_mono: float, files_base_url: str) -> dict[str, object]:
    """Kling's `data` object for a query at `now_mono`."""
    state = task.state_at(now_mono)
    data: dict[str, object] = {"task_id": task.task_id, "task_status": state.value}
    # CometAPI's running example shows task_info and task_result empty until the task ends.
    task_info: dict[str, object] = {}
    task_result: dict[str, object] = {}
    if state.is_terminal:
        is_success = state is TaskState.SUCCEED
        data["task_status_msg"] = "" if is_success else task.failure_reason
        if task.external_task_id:
            task_info["external_task_id"] = task.external_task_id
        if is_success:
            data["final_unit_deduction"] = task.result_duration.split(".")[0]
        if is_success and task.has_video:
            url, watermark_url = file_urls(task, files_base_url)
            video: dict[str, object] = {
                "id": task.video_id,
                "url": url,
                "duration": task.result_duration,
            }
            if task.is_watermarked:
                video["watermark_url"] = watermark_url
            task_result["videos"] = [video]
    data["task_info"] = task_info
    if "watermark_info" in task.body:
        data["watermark_info"] = {"enabled": task.is_watermarked}
    data["task_result"] = task_result
    data["created_at"] = _ms(task.told(task.created_at))
    data["updated_at"] = _ms(task.told(task.wall_at(task.updated_at_mono(now_mono))))
    return data


def native_body(data: object) -> dict[str, object]:
    """Shape A: the Kling-native envelope around `data` (a task, or a list of them)."""
    return {"code": 0, "message": "SUCCEED", "request_id": new_request_id(), "data": data}


def wrapper_body(
    task: FakeTask,
    now_mono: float,
    data: dict[str, object],
    *,
    is_three_level: bool,
    is_new_api_quirk: bool,
    files_base_url: str,
) -> dict[str, object]:
    """Shape B: new-api's task wrapper; `is_three_level` nests the whole Kling response."""
    state = task.state_at(now_mono)
    status, progress = _WRAPPER_STATUS[state]
    fail_reason = task.failure_reason if state is TaskState.FAILED else ""
    if state is TaskState.SUCCEED and is_new_api_quirk:
        fail_reason = file_urls(task, files_base_url)[0]
    has_started = state is not TaskState.SUBMITTED
    return {
        "code": "success",
        "message": "",
        "data": {
            "task_id": task.task_id,
            "action": "OMNI_VIDEO",
            "status": status,
            "fail_reason": fail_reason,
            "submit_time": int(task.told(task.created_at)),
            "start_time": int(task.told(task.processing_at)) if has_started else 0,
            "finish_time": int(task.told(task.terminal_at)) if state.is_terminal else 0,
            "progress": progress,
            "data": native_body(data) if is_three_level else data,
        },
    }


def query_body(
    task: FakeTask,
    now_mono: float,
    *,
    shape: RenderedShape,
    is_new_api_quirk: bool,
    files_base_url: str,
) -> dict[str, object]:
    """The whole query answer for `task` in the chosen shape."""
    data = kling_task_data(task, now_mono, files_base_url)
    if shape == "native":
        return native_body(data)
    return wrapper_body(
        task,
        now_mono,
        data,
        is_three_level=shape == "wrapper3",
        is_new_api_quirk=is_new_api_quirk,
        files_base_url=files_base_url,
    )


def pick_shape(configured: str, rng: random.Random) -> RenderedShape:
    """Resolve the configured shape; `random` fuzzes the client with a new pick per answer."""
    if configured == "wrapper":
        return "wrapper"
    if configured == "wrapper3":
        return "wrapper3"
    if configured == "random":
        return rng.choice(("native", "wrapper", "wrapper3"))
    return "native"

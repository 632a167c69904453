"""Pure JSON ↔ typed tests of bot.omni.wire, against bodies shaped like the documented ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ApiError, ApiErrorKind, InvalidInput
from bot.domain.request import MODEL_NAMES, OmniRequest, make_request
from bot.fakes.comet import validate_create_body
from bot.omni.errors import BASE_URL_HINT, classify_error, parse_retry_after, redact
from bot.omni.wire import (
    NO_REASON,
    NO_URL_REASON,
    CreatedTask,
    TaskSnapshot,
    TaskStatus,
    build_create_body,
    normalize_query,
    parse_create_response,
)

# -- build_create_body: every input mode ------------------------------------------------------


def test_text_to_video_matches_the_spec_example() -> None:
    request = make_request(
        {
            "model": "kling-video-o1",
            "prompt": "A paper boat drifting down a rainy street at dusk",
            "mode": "std",
            "aspect_ratio": "16:9",
            "duration_s": 5,
        }
    )
    assert build_create_body(request, "discord-1234567890-ab12") == json.loads(
        """{"model_name":"kling-video-o1",
        "prompt":"A paper boat drifting down a rainy street at dusk",
        "mode":"std","aspect_ratio":"16:9","duration":"5","sound":"off",
        "external_task_id":"discord-1234567890-ab12"}"""
    )


def test_first_and_end_frames_match_the_spec_example_plus_explicit_sound_off() -> None:
    request = make_request(
        {
            "prompt": "The person in the picture starts dancing",
            "images": [
                {"url": "https://cdn.example.com/a.png", "frame": "first_frame"},
                {"url": "https://cdn.example.com/b.png", "frame": "end_frame"},
            ],
            "mode": "pro",
            "duration_s": 5,
        }
    )
    expected = json.loads(
        """{"model_name":"kling-video-o1","prompt":"The person in the picture starts dancing",
        "image_list":[{"image_url":"https://cdn.example.com/a.png","type":"first_frame"},
                      {"image_url":"https://cdn.example.com/b.png","type":"end_frame"}],
        "mode":"pro","duration":"5"}"""
    )
    # The spec example relies on Kling's default; we always say "off" explicitly.
    assert build_create_body(request, None) == {**expected, "sound": "off"}


def test_base_video_edit_matches_the_spec_example() -> None:
    request = make_request(
        {
            "prompt": "Put the crown from <<<image_1>>> on the girl in <<<video_1>>>",
            "images": [{"url": "https://cdn.example.com/crown.png"}],
            "videos": [
                {
                    "url": "https://cdn.example.com/clip.mp4",
                    "refer_type": "base",
                    "keep_original_sound": True,
                }
            ],
            "mode": "pro",
            "duration_s": None,
        }
    )
    assert build_create_body(request, None) == json.loads(
        """{"model_name":"kling-video-o1",
        "prompt":"Put the crown from <<<image_1>>> on the girl in <<<video_1>>>",
        "image_list":[{"image_url":"https://cdn.example.com/crown.png"}],
        "video_list":[{"video_url":"https://cdn.example.com/clip.mp4","refer_type":"base",
                       "keep_original_sound":"yes"}],
        "mode":"pro","sound":"off"}"""
    )


def test_multi_shot_customize_matches_the_spec_example() -> None:
    request = make_request(
        {
            "model": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "customize",
            "prompt": "",
            "shots": [
                {"prompt": "A dog stands by the sea", "duration_s": 2},
                {"prompt": "The dog turns and runs along the beach", "duration_s": 3},
            ],
            "mode": "std",
            "aspect_ratio": "16:9",
            "duration_s": 5,
            "sound": True,
        }
    )
    assert build_create_body(request, None) == json.loads(
        """{"model_name":"kling-v3-omni","multi_shot":true,"shot_type":"customize","prompt":"",
        "multi_prompt":[{"index":1,"prompt":"A dog stands by the sea","duration":"2"},
                        {"index":2,"prompt":"The dog turns and runs along the beach",
                         "duration":"3"}],
        "mode":"std","aspect_ratio":"16:9","duration":"5","sound":"on"}"""
    )


def test_multi_shot_intelligence_sends_no_multi_prompt() -> None:
    request = make_request(
        {
            "model": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "intelligence",
            "prompt": "A day at the beach in three shots",
            "aspect_ratio": "9:16",
            "duration_s": 10,
        }
    )
    body = build_create_body(request, None)
    assert body["multi_shot"] is True
    assert body["shot_type"] == "intelligence"
    assert "multi_prompt" not in body
    assert body["duration"] == "10"


def test_references_and_elements_keep_order_and_send_int_element_ids() -> None:
    request = make_request(
        {
            "prompt": "<<<element_1>>> and <<<element_2>>> walk past <<<image_2>>>",
            "images": [{"url": "https://a/1.png"}, {"url": "https://a/2.png"}],
            "elements": [{"element_id": 42}, {"element_id": 7}],
            "aspect_ratio": "1:1",
            "duration_s": 3,
        }
    )
    body = build_create_body(request, None)
    assert body["image_list"] == [
        {"image_url": "https://a/1.png"},
        {"image_url": "https://a/2.png"},
    ]
    assert body["element_list"] == [{"element_id": 42}, {"element_id": 7}]
    assert body["duration"] == "3"
    assert body["aspect_ratio"] == "1:1"


def test_feature_video_sends_refer_type_keep_sound_no_and_sound_off() -> None:
    request = make_request(
        {
            "prompt": "The next shot of <<<video_1>>>",
            "videos": [{"url": "https://a/v.mp4", "refer_type": "feature"}],
            "aspect_ratio": "16:9",
            "duration_s": 7,
        }
    )
    body = build_create_body(request, None)
    assert body["video_list"] == [
        {"video_url": "https://a/v.mp4", "refer_type": "feature", "keep_original_sound": "no"}
    ]
    assert body["sound"] == "off"
    assert body["duration"] == "7"


def test_watermark_is_sent_only_when_asked_and_extras_never() -> None:
    plain = make_request({"prompt": "x", "aspect_ratio": "16:9"})
    marked = make_request({"prompt": "x", "aspect_ratio": "16:9", "watermark": True})
    assert "watermark_info" not in build_create_body(plain, None)
    assert build_create_body(marked, None)["watermark_info"] == {"enabled": True}
    for body in (build_create_body(plain, None), build_create_body(marked, "id-1")):
        assert not {"negative_prompt", "cfg_scale", "callback_url"} & body.keys()
        assert isinstance(body["duration"], str)
    assert "external_task_id" not in build_create_body(plain, None)


@st.composite
def omni_requests(draw: st.DrawFn) -> OmniRequest:
    """Valid requests of every input mode, built from plausible fields (invalid mixes rejected)."""
    urls = st.sampled_from(["https://a/1.png", "https://a/2.jpg", "aGVsbG8gd29ybGQ="])
    mode = draw(st.sampled_from(["text", "frames", "reference", "edit", "feature", "storyboard"]))
    fields: dict[str, Any] = {
        "model": draw(st.sampled_from(MODEL_NAMES)),
        "prompt": draw(st.sampled_from(["a cat", "a dog on <<<image_1>>>", "waves"])),
        "mode": draw(st.sampled_from(["std", "pro"])),
        "aspect_ratio": draw(st.sampled_from(["16:9", "9:16", "1:1"])),
        "duration_s": draw(st.integers(3, 15)),
        "sound": draw(st.booleans()),
        "watermark": draw(st.booleans()),
    }
    if mode == "frames":
        fields["aspect_ratio"] = None
        fields["images"] = [{"url": draw(urls), "frame": "first_frame"}]
        if draw(st.booleans()):
            fields["images"].append({"url": draw(urls), "frame": "end_frame"})
    elif mode in ("reference", "feature", "edit"):
        fields["images"] = [{"url": u} for u in draw(st.lists(urls, min_size=1, max_size=3))]
        ids = draw(st.lists(st.integers(1, 10**12), max_size=1))
        fields["elements"] = [{"element_id": i} for i in ids]
    if mode in ("feature", "edit"):
        refer = "feature" if mode == "feature" else "base"
        keep = draw(st.booleans())
        fields["videos"] = [
            {"url": "https://a/v.mp4", "refer_type": refer, "keep_original_sound": keep}
        ]
        fields["sound"] = False
        if mode == "edit":
            fields["aspect_ratio"] = fields["duration_s"] = None
    if mode == "storyboard":
        fields["model"] = "kling-v3-omni"
        fields["multi_shot"] = True
        fields["shot_type"] = draw(st.sampled_from(["customize", "intelligence"]))
        if fields["shot_type"] == "customize":
            lengths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
            fields["shots"] = [
                {"prompt": f"shot {n}", "duration_s": d} for n, d in enumerate(lengths)
            ]
            fields["duration_s"] = sum(lengths)
            fields["prompt"] = ""
    try:
        return make_request(fields)
    except InvalidInput:
        assume(False)
        raise


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(request=omni_requests(), external_id=st.one_of(st.none(), st.uuids().map(str)))
def test_every_valid_request_builds_a_body_the_fake_accepts(
    request: OmniRequest, external_id: str | None
) -> None:
    """The fake reads the create rules apart from bot.domain.request: the two readings agree."""
    body = build_create_body(request, external_id)
    assert validate_create_body(json.loads(json.dumps(body))) is None
    assert body["model_name"] == request.model
    assert ("duration" in body) == (request.duration_s is not None)
    assert ("aspect_ratio" in body) == (request.aspect_ratio is not None)


# -- parse_create_response --------------------------------------------------------------------

CREATE_OK = json.loads(
    """{"code": 0, "message": "SUCCEED", "request_id": "3f0c6f1e-8a4b-4c2e-9d5a-1b2c3d4e5f60",
  "data": {"task_id": "878106484537192522", "task_status": "submitted",
    "task_info": {"external_task_id": "discord-1234567890-ab12"},
    "created_at": 1777385419126, "updated_at": 1777385419126}}"""
)


def test_create_reply_in_the_kling_envelope() -> None:
    assert parse_create_response(200, CREATE_OK) == CreatedTask(
        "878106484537192522", TaskStatus.QUEUED, "discord-1234567890-ab12"
    )


@pytest.mark.parametrize(
    "body, task_id",
    [
        ({"code": 0, "message": "", "task_id": "task_xxx"}, "task_xxx"),
        ({"id": "vid_1", "task_id": "t-1", "object": "video", "status": "queued"}, "t-1"),
        ({"id": "vid_only", "object": "video", "status": "queued", "progress": 0}, "vid_only"),
        (
            {"code": "success", "data": {"task_id": "CjMT7WdSwWcAAAAAALvB3g"}},
            "CjMT7WdSwWcAAAAAALvB3g",
        ),
        ({"code": "0", "data": {"task_id": "1"}}, "1"),
        ({"data": {"task_id": 878106484537192522}}, "878106484537192522"),
    ],
)
def test_create_reply_variants(body: dict[str, object], task_id: str) -> None:
    assert parse_create_response(201, body).task_id == task_id


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "message": "SUCCEED", "data": {"task_status": "submitted"}},
        {"code": 0, "data": {"task_id": ""}},
        ["not", "an", "object"],
        None,
    ],
)
def test_an_unreadable_2xx_create_is_ambiguous(body: object) -> None:
    with pytest.raises(ApiError) as caught:
        parse_create_response(200, body)
    assert caught.value.kind is ApiErrorKind.AMBIGUOUS


def test_a_2xx_carrying_a_kling_refusal_code_is_that_refusal() -> None:
    body = {"code": 1303, "message": "parallel task over resource pack limit"}
    with pytest.raises(ApiError) as caught:
        parse_create_response(200, body)
    assert caught.value.kind is ApiErrorKind.RATE_LIMITED
    assert caught.value.api_code == 1303


def test_a_non_2xx_create_reply_is_classified() -> None:
    with pytest.raises(ApiError) as caught:
        parse_create_response(400, {"code": 1201, "message": "duration: must be 5 or 10"})
    assert caught.value.kind is ApiErrorKind.INVALID_REQUEST
    assert "duration: must be 5 or 10" in str(caught.value)


# -- normalize_query --------------------------------------------------------------------------

NATIVE_PROCESSING = """{"code":0,"message":"success","request_id":"878106484537192522",
 "data":{"task_id":"878106484537192522","task_status":"processing","task_info":{},
         "task_result":{},"created_at":1777385419126,"updated_at":1777385430317}}"""
NATIVE_SUCCEEDED = """{"code":0,"message":"SUCCEED",
 "request_id":"9ab376fc-9059-487f-9e2a-c9c89f1a344f",
 "data":{"task_id":"878106484537192522","task_status":"succeed","task_status_msg":"",
         "task_info":{"external_task_id":"discord-1234567890-ab12"},
         "final_unit_deduction":"5",
         "created_at":1777385419126,"updated_at":1777385521904,
         "task_result":{"videos":[{"id":"a1b2c3d4-0000-4000-8000-000000000001",
            "url":"https://cdn.klingai.example/bs2/upload-kling-api/output/878106484537192522.mp4",
            "duration":"5.041"}]}}}"""
NATIVE_FAILED = """{"code":0,"message":"SUCCEED",
 "request_id":"5d0e2c9a-1111-4222-8333-444455556666",
 "data":{"task_id":"878106484537192599","task_status":"failed",
         "task_status_msg":"Failure to pass the risk control system",
         "task_info":{},"task_result":{},
         "created_at":1777385419126,"updated_at":1777385460000}}"""
WRAPPER_SUCCESS = """{"code":"success","message":"",
 "data":{"task_id":"878106484537192522","action":"OMNI_VIDEO","status":"SUCCESS",
         "fail_reason":"","submit_time":1777385419,"start_time":1777385425,"finish_time":1777385522,
         "progress":"100%",
         "data":{"task_id":"878106484537192522","task_status":"succeed","task_status_msg":"",
                 "created_at":1777385419126,"updated_at":1777385521904,
                 "task_result":{"videos":[{"id":"a1b2...","url":"https://cdn.klingai.example/x.mp4","duration":"5.041"}]}}}}"""
WRAPPER_IN_PROGRESS = """{"code":"success","message":"",
 "data":{"task_id":"878106484537192522","action":"OMNI_VIDEO","status":"IN_PROGRESS",
         "fail_reason":"","submit_time":1777385419,"start_time":1777385425,"finish_time":0,
         "progress":"30%","data":{"task_id":"878106484537192522","task_status":"processing","task_result":{}}}}"""
WRAPPER_FAILURE = """{"code":"success","message":"",
 "data":{"task_id":"878106484537192599","action":"OMNI_VIDEO","status":"FAILURE",
         "fail_reason":"Failure to pass the risk control system",
         "submit_time":1777385419,"start_time":1777385425,"finish_time":1777385460,"progress":"100%",
         "data":{"task_id":"878106484537192599","task_status":"failed",
                 "task_status_msg":"Failure to pass the risk control system","task_result":{}}}}"""
RISK = "Failure to pass the risk control system"
URL_X = "https://cdn.klingai.example/x.mp4"


def test_native_processing() -> None:
    assert normalize_query(json.loads(NATIVE_PROCESSING)) == TaskSnapshot(
        "878106484537192522", TaskStatus.RUNNING
    )


ENDED_AT = datetime(2026, 4, 28, 14, 12, 1, 904000, tzinfo=UTC)  # updated_at 1777385521904 ms


def test_native_succeeded() -> None:
    assert normalize_query(json.loads(NATIVE_SUCCEEDED)) == TaskSnapshot(
        task_id="878106484537192522",
        status=TaskStatus.SUCCEEDED,
        video_url="https://cdn.klingai.example/bs2/upload-kling-api/output/878106484537192522.mp4",
        video_duration_s=5.041,
        units_billed="5",
        finished_at=ENDED_AT,
    )


def test_native_failed() -> None:
    snapshot = normalize_query(json.loads(NATIVE_FAILED))
    assert snapshot == TaskSnapshot(
        "878106484537192599",
        TaskStatus.FAILED,
        failure_reason=RISK,
        finished_at=datetime(2026, 4, 28, 14, 11, 0, tzinfo=UTC),
    )
    assert snapshot.status.is_terminal


def test_wrapper_success() -> None:
    snapshot = normalize_query(json.loads(WRAPPER_SUCCESS))
    assert snapshot == TaskSnapshot(
        "878106484537192522",
        TaskStatus.SUCCEEDED,
        video_url=URL_X,
        progress_pct=100,
        video_duration_s=5.041,
        finished_at=ENDED_AT,
    )


def test_when_the_task_ended_is_read_from_any_shape_and_only_for_an_end() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    del body["data"]["data"]["updated_at"]  # then the wrapper's finish_time, in seconds
    assert normalize_query(body).finished_at == datetime(2026, 4, 28, 14, 12, 2, tzinfo=UTC)
    running = json.loads(NATIVE_SUCCEEDED)
    running["data"]["task_status"] = "processing"
    assert normalize_query(running).finished_at is None
    for junk in (0, "", "soon", None, True, float("nan")):
        body["data"]["finish_time"] = junk
        assert normalize_query(body).finished_at is None


def test_wrapper_in_progress_reads_progress_for_display() -> None:
    snapshot = normalize_query(json.loads(WRAPPER_IN_PROGRESS))
    assert snapshot.status is TaskStatus.RUNNING
    assert snapshot.progress_pct == 30
    assert not snapshot.status.is_terminal


def test_wrapper_failure() -> None:
    snapshot = normalize_query(json.loads(WRAPPER_FAILURE))
    assert (snapshot.status, snapshot.failure_reason) == (TaskStatus.FAILED, RISK)


def test_wrapper3_nests_the_whole_kling_response() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    body["data"]["data"] = {"code": 0, "message": "SUCCEED", "data": body["data"]["data"]}
    snapshot = normalize_query(body)
    assert (snapshot.status, snapshot.video_url) == (TaskStatus.SUCCEEDED, URL_X)


def test_a_wrapper_payload_relayed_as_a_json_string_is_read() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    body["data"]["data"] = json.dumps(body["data"]["data"])
    assert normalize_query(body).video_url == URL_X


def test_new_api_quirk_url_in_fail_reason_is_never_a_failure() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    body["data"]["fail_reason"] = URL_X
    body["data"]["data"]["task_result"] = {}
    snapshot = normalize_query(body)
    assert snapshot == TaskSnapshot(
        "878106484537192522",
        TaskStatus.SUCCEEDED,
        video_url=URL_X,
        progress_pct=100,
        finished_at=ENDED_AT,
    )


def test_a_non_url_fail_reason_on_success_is_ignored_when_the_video_is_there() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    body["data"]["fail_reason"] = "something odd"
    snapshot = normalize_query(body)
    assert (snapshot.status, snapshot.failure_reason) == (TaskStatus.SUCCEEDED, "")


@pytest.mark.parametrize("raw", [NATIVE_SUCCEEDED, WRAPPER_SUCCESS])
def test_succeed_without_a_url_is_a_failure_with_a_clear_reason(raw: str) -> None:
    body = json.loads(raw)
    kling = body["data"].get("data", body["data"])
    kling["task_result"] = {}
    snapshot = normalize_query(body)
    assert (snapshot.status, snapshot.failure_reason) == (TaskStatus.FAILED, NO_URL_REASON)


@pytest.mark.parametrize(
    "duration, expected", [(5.041, 5.041), (5, 5.0), ("5.0", 5.0), ("x", None)]
)
def test_duration_is_read_with_float(duration: object, expected: float | None) -> None:
    body = json.loads(NATIVE_SUCCEEDED)
    body["data"]["task_result"]["videos"][0]["duration"] = duration
    assert normalize_query(body).video_duration_s == expected


@pytest.mark.parametrize("code", [0, "0", "success", 200])
def test_every_success_code_is_accepted(code: object) -> None:
    body = json.loads(NATIVE_SUCCEEDED)
    body["code"] = code
    assert normalize_query(body).status is TaskStatus.SUCCEEDED


@pytest.mark.parametrize(
    "word, status",
    [
        ("submitted", TaskStatus.QUEUED),
        ("processing", TaskStatus.RUNNING),
        ("rendering_frames", TaskStatus.RUNNING),
        ("", TaskStatus.RUNNING),
    ],
)
def test_native_status_words(word: str, status: TaskStatus) -> None:
    body = json.loads(NATIVE_PROCESSING)
    body["data"]["task_status"] = word
    assert normalize_query(body).status is status


@pytest.mark.parametrize(
    "word, status",
    [
        ("NOT_START", TaskStatus.QUEUED),
        ("SUBMITTED", TaskStatus.QUEUED),
        ("QUEUED", TaskStatus.QUEUED),
        ("IN_PROGRESS", TaskStatus.RUNNING),
        ("UNKNOWN", TaskStatus.RUNNING),
        ("SOMETHING_NEW", TaskStatus.RUNNING),
    ],
)
def test_wrapper_status_words(word: str, status: TaskStatus) -> None:
    body = json.loads(WRAPPER_IN_PROGRESS)
    body["data"]["status"] = word
    assert normalize_query(body).status is status


def test_unknown_fields_are_ignored_and_watermark_url_is_read() -> None:
    body = json.loads(WRAPPER_SUCCESS)
    body["data"].update(notify_hook="x", platform="kling", quota=12, properties={"a": [1]})
    body["brand_new"] = {"nested": True}
    video = body["data"]["data"]["task_result"]["videos"][0]
    video.update(watermark_url="https://cdn/x_wm.mp4", width=1920)
    snapshot = normalize_query(body)
    assert snapshot.watermark_url == "https://cdn/x_wm.mp4"
    assert snapshot.video_url == URL_X


def test_a_failure_without_any_reason_still_says_something() -> None:
    body = json.loads(NATIVE_FAILED)
    del body["data"]["task_status_msg"]
    assert normalize_query(body).failure_reason == NO_REASON


@pytest.mark.parametrize(
    "progress, pct",
    [("30%", 30), ("100%", 100), (20, 20), ("", None), ("abc%", None), ("250%", 100)],
)
def test_progress_for_display(progress: object, pct: int | None) -> None:
    body = json.loads(WRAPPER_IN_PROGRESS)
    body["data"]["progress"] = progress
    assert normalize_query(body).progress_pct == pct


@pytest.mark.parametrize("body", [[], "text", {"code": 0}, {"code": 0, "data": None}])
def test_a_body_that_is_not_a_task_is_transient(body: object) -> None:
    with pytest.raises(ApiError) as caught:
        normalize_query(body, task_id="1")
    assert caught.value.kind is ApiErrorKind.TRANSIENT


def test_an_error_code_in_a_200_query_is_classified() -> None:
    with pytest.raises(ApiError) as caught:
        normalize_query({"code": "task_not_exist", "message": "task_not_exist", "data": None})
    assert caught.value.kind is ApiErrorKind.NOT_FOUND


def test_the_task_id_falls_back_to_the_one_asked_for() -> None:
    body = {"code": 0, "data": {"task_status": "processing"}}
    assert normalize_query(body, task_id="abc").task_id == "abc"


_WRAPPER_WORDS = {"submitted": "SUBMITTED", "processing": "IN_PROGRESS", "succeed": "SUCCESS"}
_WRAPPER_WORDS |= {"failed": "FAILURE"}


@st.composite
def kling_datas(draw: st.DrawFn) -> dict[str, Any]:
    """Kling `data` objects as any gateway might relay them."""
    status = draw(st.sampled_from(["submitted", "processing", "succeed", "failed", "odd_state"]))
    data: dict[str, Any] = {
        "task_id": draw(st.from_regex(r"[0-9]{18}", fullmatch=True)),
        "task_status": status,
        "task_result": {},
    }
    if draw(st.booleans()):
        data["task_status_msg"] = draw(st.sampled_from(["", RISK, "bad input"]))
    if status == "succeed" and draw(st.integers(0, 4)):
        video: dict[str, object] = {"url": draw(st.sampled_from([URL_X, "https://cdn/y.mp4"]))}
        if draw(st.booleans()):
            video["duration"] = draw(st.sampled_from(["5.041", 10, "10.0"]))
        data["task_result"] = {"videos": [video]}
    return data


@given(data=kling_datas())
def test_every_shape_of_the_same_task_normalises_the_same(data: dict[str, Any]) -> None:
    """Native, wrapper and wrapper3 carry one task; the client sees one snapshot."""
    native = {"code": 0, "message": "SUCCEED", "data": data}
    status = _WRAPPER_WORDS.get(data["task_status"], "UNKNOWN")
    reason = data.get("task_status_msg", "") if status == "FAILURE" else ""
    outer = {"task_id": data["task_id"], "status": status, "fail_reason": reason, "progress": "30%"}
    wrapper = {"code": "success", "message": "", "data": {**outer, "data": data}}
    wrapper3 = {"code": "success", "message": "", "data": {**outer, "data": native}}
    want = normalize_query(native)
    for body in (wrapper, wrapper3):
        got = normalize_query(json.loads(json.dumps(body)))
        assert (got.task_id, got.status, got.video_url, got.failure_reason) == (
            want.task_id,
            want.status,
            want.video_url,
            want.failure_reason,
        )
        assert got.video_duration_s == want.video_duration_s


# -- classify_error ---------------------------------------------------------------------------

A = ApiErrorKind
KLING_TABLE = [
    (401, 1000, A.AUTH),
    (401, 1001, A.AUTH),
    (401, 1002, A.AUTH),
    (401, 1003, A.AUTH),
    (401, 1004, A.AUTH),
    (429, 1100, A.AUTH),
    (429, 1101, A.OUT_OF_CREDIT),
    (429, 1102, A.OUT_OF_CREDIT),
    (403, 1103, A.AUTH),
    (400, 1200, A.INVALID_REQUEST),
    (400, 1201, A.INVALID_REQUEST),
    (404, 1202, A.INVALID_REQUEST),
    (404, 1203, A.INVALID_REQUEST),
    (400, 1300, A.MODERATED),
    (400, 1301, A.MODERATED),
    (429, 1302, A.RATE_LIMITED),
    (429, 1303, A.RATE_LIMITED),
    (429, 1304, A.AUTH),
    (500, 5000, A.TRANSIENT),
    (503, 5001, A.TRANSIENT),
    (504, 5002, A.TRANSIENT),
]


def kling(code: int, message: str = "kling says no") -> str:
    return json.dumps({"code": code, "message": message, "request_id": "9984d27b-0000"})


def comet(message: str, code: str = "") -> str:
    error = {"message": f"{message} (request id: 2026031212345)", "type": "comet_api_error"}
    return json.dumps({"error": {**error, "param": "", "code": code}})


def relay(code: str, message: str) -> str:
    return json.dumps({"code": code, "message": message, "data": None})


@pytest.mark.parametrize("status, code, kind", KLING_TABLE)
def test_every_kling_business_code_on_create(status: int, code: int, kind: ApiErrorKind) -> None:
    error = classify_error(status, kling(code), "application/json", None, is_create=True)
    assert (error.kind, error.api_code, error.http_status) == (kind, code, status)
    assert error.detail == "kling says no"
    assert error.is_retryable == (code in (1302, 1303, 5000, 5001, 5002))


@pytest.mark.parametrize(
    ("status", "body", "names_the_key"),
    [
        (401, comet("Invalid token"), True),
        (403, comet("access denied"), True),
        (401, kling(1002), True),
        (401, kling(1004), True),
        (403, kling(1103), False),  # the model is not enabled: the key itself is fine
        (429, kling(1304), False),  # the IP allow-list
        (429, kling(1303), False),
    ],
)
def test_the_log_line_of_a_refused_key_names_the_setting(
    status: int, body: str, names_the_key: bool
) -> None:
    line = classify_error(status, body, "application/json", None, is_create=True).log_line()
    assert ("check omni.api_key (or COMETAPI_KEY, which overrides it)" in line) == names_the_key


@pytest.mark.parametrize("status, code, kind", KLING_TABLE)
def test_every_kling_business_code_on_query(status: int, code: int, kind: ApiErrorKind) -> None:
    error = classify_error(status, kling(code), "application/json", None, is_create=False)
    # On a query, "resource not found" is the task: NOT_FOUND, not a bad request.
    assert error.kind is (A.NOT_FOUND if code == 1203 else kind)


def test_a_kling_code_decides_even_under_a_collapsed_http_status() -> None:
    """U13: new-api may answer 400 `task_failed` for an upstream 1303."""
    error = classify_error(400, kling(1303), "application/json", None, is_create=True)
    assert error.kind is A.RATE_LIMITED


def test_the_validation_message_reaches_the_member() -> None:
    body = kling(1201, "duration: must be 5 or 10 for text-to-video")
    error = classify_error(400, body, "application/json", None, is_create=True)
    assert "duration: must be 5 or 10 for text-to-video" in error.member_message


@pytest.mark.parametrize(
    "status, body, content_type, is_create, kind",
    [
        (
            400,
            comet("Validation failed: prompt required"),
            "application/json",
            True,
            A.INVALID_REQUEST,
        ),
        (401, comet("Invalid token"), "application/json", True, A.AUTH),
        (401, "", "text/plain", False, A.AUTH),
        (403, comet("Access to this model is blocked"), "application/json", True, A.AUTH),
        (403, comet("insufficient user quota"), "application/json", True, A.OUT_OF_CREDIT),
        (403, comet("Your credit balance is too low"), "application/json", True, A.OUT_OF_CREDIT),
        (402, "", "", True, A.OUT_OF_CREDIT),
        (413, "Request Entity Too Large", "text/plain", True, A.INVALID_REQUEST),
        (429, comet("Rate limit reached"), "application/json", True, A.RATE_LIMITED),
        (
            429,
            comet("当前分组上游负载已饱和，请稍后再试"),
            "application/json",
            True,
            A.RATE_LIMITED,
        ),
        (
            500,
            comet("bad body", code="invalid_request"),
            "application/json",
            True,
            A.INVALID_REQUEST,
        ),
        (500, comet("Internal error"), "application/json", True, A.TRANSIENT),
        (500, '{"code":0,"message":"trunc', "application/json", False, A.TRANSIENT),
        (502, "", "", True, A.TRANSIENT),
        (503, comet("Service unavailable"), "application/json", True, A.TRANSIENT),
        (504, comet("upstream timed out"), "application/json", False, A.TRANSIENT),
        (524, comet("A timeout occurred"), "application/json", False, A.TRANSIENT),
        # Without an external_task_id a resend could bill twice: a create's gateway timeout is
        # as unsure as a timeout of our own.
        (504, comet("upstream timed out"), "application/json", True, A.AMBIGUOUS),
        (524, "", "text/html", True, A.AMBIGUOUS),
        (400, relay("task_not_exist", "task_not_exist"), "application/json", False, A.NOT_FOUND),
        (404, '{"message":"no such task"}', "application/json", False, A.NOT_FOUND),
        (
            400,
            relay("task_failed", "prompt: too long"),
            "application/json",
            True,
            A.INVALID_REQUEST,
        ),
    ],
)
def test_gateway_errors(
    status: int, body: str, content_type: str, is_create: bool, kind: ApiErrorKind
) -> None:
    assert classify_error(status, body, content_type, None, is_create=is_create).kind is kind


@pytest.mark.parametrize(
    "status, body, content_type",
    [
        (504, comet("upstream timed out"), "application/json"),
        (524, comet("A timeout occurred"), "application/json"),
        (524, "", "text/html"),
    ],
)
def test_a_gateway_timeout_on_a_create_with_an_external_id_is_retried(
    status: int, body: str, content_type: str
) -> None:
    """Retryable, because a resend with the same external_task_id is refused, not billed."""
    error = classify_error(status, body, content_type, None, is_create=True, has_external_id=True)
    assert error.kind is A.TRANSIENT
    assert error.is_retryable


DUPLICATE_ID = "external_task_id: already used by another task in this account"


@pytest.mark.parametrize(
    "status, body",
    [
        (400, kling(1201, DUPLICATE_ID)),  # the fake's answer (an assumption)
        (400, relay("task_failed", kling(1201, DUPLICATE_ID))),  # relayed by new-api
        (400, kling(1200, "Duplicate external_task_id")),
        (409, comet("external_task_id already exists")),
    ],
)
def test_a_create_refused_for_a_reused_external_id_is_a_duplicate(status: int, body: str) -> None:
    error = classify_error(status, body, "application/json", None, is_create=True)
    assert error.kind is A.DUPLICATE
    assert not error.is_retryable


@pytest.mark.parametrize(
    "body, is_create",
    [
        (kling(1201, "external_task_id: must be at most 64 characters"), True),  # not a duplicate
        (kling(1201, DUPLICATE_ID), False),  # a query can't be a duplicate create
    ],
)
def test_other_refusals_naming_the_external_id_are_not_duplicates(
    body: str, is_create: bool
) -> None:
    error = classify_error(400, body, "application/json", None, is_create=is_create)
    assert error.kind is A.INVALID_REQUEST


def test_the_error_envelope_message_is_the_detail() -> None:
    error = classify_error(400, comet("prompt: required"), "application/json", None, is_create=True)
    assert error.detail == "prompt: required (request id: 2026031212345)"


@pytest.mark.parametrize(
    "status, kling_code, kind",
    [(429, 1303, A.RATE_LIMITED), (400, 1301, A.MODERATED), (429, 1102, A.OUT_OF_CREDIT)],
)
def test_a_kling_code_hidden_as_json_text_inside_a_relay_message(
    status: int, kling_code: int, kind: ApiErrorKind
) -> None:
    body = relay("fail_to_fetch_task", kling(kling_code, "upstream words"))
    error = classify_error(status, body, "application/json", None, is_create=True)
    assert (error.kind, error.api_code, error.detail) == (kind, kling_code, "upstream words")


def test_a_kling_code_inside_non_json_text_is_found_too() -> None:
    message = 'status_code=429, body={"code":1303,"message":"parallel task over'
    error = classify_error(400, relay("fail_to_fetch_task", message), None, None, is_create=True)
    assert (error.kind, error.api_code) == (A.RATE_LIMITED, 1303)


HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body></html>"
)


def test_an_html_502_page_is_transient_and_summarised() -> None:
    error = classify_error(502, HTML_502, "text/html", None, is_create=True)
    assert error.kind is A.TRANSIENT
    assert error.detail == "HTML page (502 Bad Gateway)"


@pytest.mark.parametrize(
    "status, body, content_type, is_create",
    [
        (301, "", "text/html", True),
        (302, "", None, False),
        (404, "<!DOCTYPE html><html><title>Not Found</title></html>", "text/html", False),
        (404, '{"message":"Not Found"}', "application/json", True),
        (200, "<html><body>welcome to nginx</body></html>", "text/html", False),
    ],
)
def test_wrong_base_url_symptoms_are_unknown_with_a_hint(
    status: int, body: str, content_type: str | None, is_create: bool
) -> None:
    error = classify_error(status, body, content_type, None, is_create=is_create)
    assert error.kind is A.UNKNOWN
    assert BASE_URL_HINT in error.detail


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 3, 12, 12, 0, 0, tzinfo=UTC)
    seconds = classify_error(429, comet("slow down"), None, "7", is_create=True)
    dated = classify_error(503, "", None, "Thu, 12 Mar 2026 12:00:30 GMT", is_create=False, now=now)
    assert seconds.retry_after_s == 7.0
    assert dated.retry_after_s == 30.0


@pytest.mark.parametrize(
    "value, seconds",
    [(None, None), ("", None), ("soon", None), ("-3", 0.0), ("1.5", 1.5), ("nan", None)],
)
def test_parse_retry_after_edge_cases(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_a_past_retry_after_date_means_now() -> None:
    now = datetime(2026, 3, 12, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 12 Mar 2026 11:00:00 GMT", now) == 0.0


def test_the_api_key_never_reaches_the_detail() -> None:
    key = "sk-live-0123456789abcdef"
    body = comet(f"Invalid token {key}, header was Bearer {key}")
    error = classify_error(401, body, "application/json", None, is_create=True, secrets=(key,))
    for text in (error.detail, str(error), error.log_line(), repr(error.args)):
        assert key not in text
    # Even without being told the secret, key-shaped text is masked.
    unnamed = classify_error(401, body, "application/json", None, is_create=True)
    assert key not in unnamed.detail


def test_redact_masks_bearer_tokens_and_sk_keys() -> None:
    assert redact("Authorization: Bearer abc.def", ()) == "Authorization: Bearer ***"
    assert redact("key sk-ABCDEFGH1234 used", ()) == "key sk-*** used"


def test_long_bodies_are_trimmed_for_the_detail() -> None:
    error = classify_error(500, "x" * 5000, "text/plain", None, is_create=False)
    assert len(error.detail) <= 300

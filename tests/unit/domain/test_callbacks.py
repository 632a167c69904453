"""Omni callbacks, piece by piece: tokens, the key file, both body shapes, what is news."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.callback_tokens import CallbackSigner, callback_key_path, load_or_create_key
from bot.domain.errors import ConfigError
from bot.domain.lifecycle import TaskState
from bot.domain.polling import PollPolicy, Window, estimated_age_s, safety_net_delay
from bot.domain.request import make_request
from bot.engine.callback_hints import is_news
from bot.omni.wire import TaskStatus, build_create_body, parse_callback
from bot.settings.reading import load_settings
from tests.helpers.tasks import make_task

KEY = b"k" * 32
SIGNER = CallbackSigner(KEY, "https://bot.example.org/omni/callback/")
EXTERNAL = "kob-0123456789abcdef0123456789abcdef"


def test_a_token_names_its_task_and_only_the_bot_can_make_one() -> None:
    token = SIGNER.token_for(EXTERNAL)
    assert SIGNER.url_for(EXTERNAL) == f"https://bot.example.org/omni/callback/{token}"
    assert token.startswith(EXTERNAL + ".")
    assert SIGNER.verify(token) == EXTERNAL
    signature = token.rsplit(".", 1)[1]
    other = "kob-ffffffffffffffffffffffffffffffff"
    forged = [
        f"{other}.{signature}",  # another task with this task's signature
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character changed
        EXTERNAL,  # no signature
        f"{EXTERNAL}.",
        f"{EXTERNAL}.{signature[:-2]}",  # too short
        CallbackSigner(b"x" * 32, SIGNER.base_url).token_for(EXTERNAL),  # another key
        "",
    ]
    for token_text in forged:
        assert SIGNER.verify(token_text) is None, token_text


def test_the_key_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    path = callback_key_path(tmp_path / "data" / "bot.sqlite3")
    assert path == tmp_path / "data" / "bot.sqlite3.callback-key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # a restart verifies the tokens it made before
    path.write_bytes(b"short")  # damaged: replaced
    fresh = load_or_create_key(path)
    assert len(fresh) == 32 and fresh != key
    assert not list(path.parent.glob(".*part"))


def task_object(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "task_id": "878106484537192522",
        "task_status": "succeed",
        "task_status_msg": "",
        "created_at": 1777385419126,
        "updated_at": 1777385521904,
        "task_info": {"external_task_id": EXTERNAL},
        "task_result": {"videos": [{"id": "a1", "url": "https://cdn.example/x.mp4"}]},
    }
    body.update(changes)
    return body


def test_both_callback_shapes_say_the_same() -> None:
    flat = task_object()
    wrapped = {"code": 0, "message": "SUCCEED", "request_id": "r", "data": task_object()}
    relayed = {"code": 0, "data": json.dumps(task_object())}  # a gateway's string payload
    for body in (flat, wrapped, relayed):
        hint = parse_callback(body)
        assert (hint.task_id, hint.external_task_id, hint.status) == (
            "878106484537192522",
            EXTERNAL,
            TaskStatus.SUCCEEDED,
        )
    gateway = {"task_id": "8781", "status": "IN_PROGRESS"}  # a wrapper-shaped one
    assert parse_callback(gateway).status is TaskStatus.RUNNING
    assert parse_callback(task_object(task_status="processing")).status is TaskStatus.RUNNING
    assert parse_callback(task_object(task_status="")).status is None


@pytest.mark.parametrize(
    "body",
    [[], "succeed", 7, None, {}, {"code": 0, "data": None}, {"task_status": "succeed"}],
)
def test_a_body_that_is_not_a_task_is_refused(body: object) -> None:
    with pytest.raises(ValueError):
        parse_callback(body)


@pytest.mark.parametrize(
    ("state", "claimed", "news"),
    [
        (TaskState.SUBMITTED, TaskStatus.QUEUED, False),  # it is at the API: known
        (TaskState.SUBMITTING, TaskStatus.QUEUED, False),
        (TaskState.SUBMITTED, TaskStatus.RUNNING, True),
        (TaskState.PROCESSING, TaskStatus.RUNNING, False),  # a repeat
        (TaskState.PROCESSING, TaskStatus.SUCCEEDED, True),
        (TaskState.SUBMITTED, TaskStatus.FAILED, True),
        (TaskState.PROCESSING, None, True),  # unreadable: ask
        (TaskState.DELIVERED, TaskStatus.SUCCEEDED, False),  # over
        (TaskState.AMBIGUOUS, TaskStatus.SUCCEEDED, False),  # reconciled at its own pace
    ],
)
def test_what_is_news(state: TaskState, claimed: TaskStatus | None, news: bool) -> None:
    assert is_news(state, claimed) is news


def test_with_callbacks_polling_is_a_safety_net() -> None:
    policy = PollPolicy()
    window = Window(40.0, 120.0)
    assert safety_net_delay(0.0, window, policy) == 120.0  # one look when it should be done
    assert safety_net_delay(100.0, window, policy) == 20.0
    assert safety_net_delay(119.5, window, policy) == 2.0  # never faster than min_interval
    assert safety_net_delay(130.0, window, policy) == 60.0  # then once a minute


def test_the_create_carries_the_callback_url() -> None:
    request = make_request({"prompt": "a boat", "aspect_ratio": "16:9"})
    body = build_create_body(request, EXTERNAL, SIGNER.url_for(EXTERNAL))
    assert body["callback_url"] == SIGNER.url_for(EXTERNAL)
    assert "callback_url" not in build_create_body(request, EXTERNAL)


def test_a_callback_url_without_a_listener_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[omni]\ncallback_url = "https://bot.example.org/kling"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = caught.value.member_message
    assert "omni.callback_url is set but [http] listen is empty" in message
    assert "<listen>/omni/callback" in message and "\n" not in message
    path.write_text(
        '[omni]\ncallback_url = "https://bot.example.org/kling/"\n'
        '[http]\nlisten = "0.0.0.0:8080"\n',
        encoding="utf-8",
    )
    settings, _ = load_settings(path, {})
    assert settings.omni.callback_url == "https://bot.example.org/kling"
    path.write_text('[omni]\ncallback_url = "bot.example.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="must start with https:// or http://"):
        load_settings(path, {})


def test_the_completion_model_learns_the_apis_own_end_time() -> None:
    submitted = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    task = make_task(
        external_id=EXTERNAL,
        origin="cli",
        guild_id=None,
        channel_id=None,
        user_id=None,
        cost=0,
        state=TaskState.PROCESSING,
        api_task_id="8781",
        created_at=submitted,
        updated_at=submitted,
        queued_at=submitted,
        submitted_at=submitted,
        last_polled_at=submitted + timedelta(seconds=10),  # a callback-era gap to the next query
        poll_count=1,
    )
    noticed = submitted + timedelta(seconds=90)
    assert estimated_age_s(task, noticed, submitted + timedelta(seconds=81)) == 81.0
    assert estimated_age_s(task, noticed) == 50.0  # no API time: midway between the queries
    # An API time outside what the two queries allow (clocks apart): the midpoint again.
    assert estimated_age_s(task, noticed, submitted + timedelta(seconds=95)) == 50.0

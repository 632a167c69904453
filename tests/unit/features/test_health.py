"""The health verdict, the facts it is made of, and the report file `kling-bot health` reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import make_request
from bot.domain.telemetry import Vitals
from bot.features.health import (
    HealthFacts,
    HealthFile,
    assess,
    gather_facts,
    judge_health_file,
    probe_url,
)
from bot.settings import Settings, StorageSettings
from bot.settings.database import health_file_for
from bot.store.sql_store import SqlStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def facts(**changes: object) -> HealthFacts:
    values: dict[str, object] = {
        "gateway_connected": True,
        "database_error": None,
        "loop_ages_s": {"submitter": 1.0, "tracker": 2.5},
        "queue_depth": 3,
        "in_flight": 5,
        "last_api_success_at": NOW - timedelta(seconds=4),
        "api_failures_since_success": 0,
        "checked_at": NOW,
    }
    values.update(changes)
    return HealthFacts(**values)  # type: ignore[arg-type]


def test_healthy_says_what_it_knows() -> None:
    report = assess(facts())
    assert report.is_healthy and report.down == ()
    assert report.body == {
        "status": "ok",
        "down": [],
        "gateway_connected": True,
        "database_reachable": True,
        "engine_loops_last_ran_s_ago": {"submitter": 1.0, "tracker": 2.5},
        "queue_depth": 3,
        "in_flight": 5,
        "last_api_success_at": "2026-05-01T11:59:56+00:00",
        "api_failures_since_success": 0,
        "checked_at": "2026-05-01T12:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("changes", "down"),
    [
        ({"gateway_connected": False}, "gateway: not connected to Discord"),
        ({"database_error": "OperationalError: disk I/O error"}, "database: OperationalError"),
        ({"loop_ages_s": {"submitter": 1.0, "tracker": 75.0}}, "the tracker loop last ran 75 s"),
        ({"loop_ages_s": {"tracker": 1.0}}, "engine: the submitter loop is not running"),
    ],
)
def test_each_part_that_is_down_is_named(changes: dict[str, object], down: str) -> None:
    report = assess(facts(**changes))
    assert not report.is_healthy
    assert report.body["status"] == "down"
    [reason] = report.down
    assert down in reason


def test_the_api_failing_is_reported_but_is_no_reason_to_restart() -> None:
    report = assess(facts(last_api_success_at=None, api_failures_since_success=12))
    assert report.is_healthy
    assert report.body["api_failures_since_success"] == 12


def request_task(user_id: int = 1) -> NewTask:
    request = make_request(
        {"model": "kling-video-o1", "prompt": "a boat", "duration_s": 5, "aspect_ratio": "16:9"}
    )
    return NewTask("discord", request, 1, guild_id=1, channel_id=2, user_id=user_id)


async def test_facts_come_from_the_database_and_the_loops(tmp_path: Path) -> None:
    store = await SqlStore.open(tmp_path / "bot.sqlite3")
    vitals = Vitals()
    vitals.loop_ticked("tracker")
    vitals.api_called("query", "ok")
    vitals.api_called("query", "transient")
    try:
        first = await store.create_task(request_task(), now=NOW)
        await store.create_task(request_task(2), now=NOW)
        await store.transition(first.id, TaskState.SUBMITTING, now=NOW)
        gathered = await gather_facts(store, vitals, lambda: True)
    finally:
        await store.close()
    assert (gathered.queue_depth, gathered.in_flight, gathered.database_error) == (1, 1, None)
    assert set(gathered.loop_ages_s) == {"tracker"}
    assert gathered.last_api_success_at is not None
    assert gathered.api_failures_since_success == 1
    closed = await gather_facts(store, vitals, lambda: False)  # the connection is gone
    assert closed.database_error is not None and closed.queue_depth is None
    assert not closed.gateway_connected


async def test_the_health_file_is_written_judged_and_removed(tmp_path: Path) -> None:
    path = health_file_for(StorageSettings(database=tmp_path / "bot.sqlite3"))
    assert path == tmp_path / "bot.sqlite3.health"
    assert "the bot is not running" in str(judge_health_file(path, now=NOW))
    current = facts()

    async def gather() -> HealthFacts:
        return current

    reporter = HealthFile(path, gather)
    await reporter.run_once()
    assert judge_health_file(path, now=NOW + timedelta(seconds=5)) is None
    assert "is 90 s old" in str(judge_health_file(path, now=NOW + timedelta(seconds=90)))
    current = facts(gateway_connected=False)
    await reporter.run_once()
    assert judge_health_file(path, now=NOW) == "gateway: not connected to Discord"
    reporter.start()
    await reporter.stop()
    assert not path.exists()
    path.write_text("{not json", encoding="utf-8")
    assert "can't be read" in str(judge_health_file(path, now=NOW))


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
        ("[::]:9000", "http://[::1]:9000/healthz"),
        ("bot.internal:81", "http://bot.internal:81/healthz"),
    ],
)
def test_the_probe_asks_the_server_where_it_listens(listen: str, url: str) -> None:
    address = Settings.model_validate({"http": {"listen": listen}}).http.address
    assert address is not None
    assert probe_url(address) == url


def test_the_http_server_is_off_by_default() -> None:
    assert Settings().http.address is None

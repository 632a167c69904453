"""Prometheus metrics: events through the Telemetry interface, the rest read from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, QuotaTerms
from bot.domain.request import make_request
from bot.domain.telemetry import Fanout, Vitals
from bot.http.metrics import PrometheusMetrics
from bot.store.sql_store import SqlStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered page, by name and labels."""
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_events_become_counters_and_histograms() -> None:
    metrics = PrometheusMetrics(with_process=False)
    vitals = Vitals()
    telemetry = Fanout(vitals, metrics)
    telemetry.api_called("create", "ok")
    telemetry.api_called("query", "ok")
    telemetry.api_called("query", "ok")
    telemetry.api_called("create", "rate_limited")
    telemetry.completion_noticed(0.3, "callback")
    telemetry.completion_noticed(4.0, "poll")
    telemetry.acknowledged(0.02)
    telemetry.delivered("file")
    telemetry.delivered("link")
    telemetry.delivered("file")
    telemetry.quota_refused()
    telemetry.callback_received("forbidden")
    telemetry.loop_ticked("tracker")
    seen = samples(metrics)
    requests = "kling_bot_api_requests_total"
    assert seen[(requests, (("operation", "create"), ("outcome", "ok")))] == 1
    assert seen[(requests, (("operation", "query"), ("outcome", "ok")))] == 2
    assert seen[(requests, (("operation", "create"), ("outcome", "rate_limited")))] == 1
    noticed = "kling_bot_completion_noticed_seconds_bucket"
    assert seen[(noticed, (("le", "0.5"), ("via", "callback")))] == 1
    assert seen[(noticed, (("le", "0.5"), ("via", "poll")))] == 0
    assert seen[(noticed, (("le", "5.0"), ("via", "poll")))] == 1
    assert seen[("kling_bot_ack_latency_seconds_count", ())] == 1
    assert seen[("kling_bot_deliveries_total", (("form", "file"),))] == 2
    assert seen[("kling_bot_deliveries_total", (("form", "link"),))] == 1
    assert seen[("kling_bot_quota_refusals_total", ())] == 1
    assert seen[("kling_bot_callbacks_total", (("outcome", "forbidden"),))] == 1
    # The vitals heard the same events: health and metrics never disagree.
    assert vitals.last_api_success_at is not None and vitals.api_failures_since_success == 1
    assert set(vitals.tick_ages_s()) == {"tracker"}


async def test_tasks_the_queue_and_refunds_come_from_the_database(tmp_path: Path) -> None:
    request = make_request(
        {"model": "kling-video-o1", "prompt": "a boat", "duration_s": 5, "aspect_ratio": "16:9"}
    )
    terms = QuotaTerms(config_limit=None, config_window="day")
    store = await SqlStore.open(tmp_path / "bot.sqlite3")
    try:
        tasks = [
            await store.create_task(
                NewTask("discord", request, 2, guild_id=1, channel_id=2, user_id=n),
                now=NOW,
                quota=terms,
            )
            for n in range(4)
        ]
        await store.transition(tasks[0].id, TaskState.REJECTED, now=NOW, failure_reason="no")
        await store.transition(tasks[1].id, TaskState.SUBMITTING, now=NOW)
        metrics = PrometheusMetrics(with_process=False)
        await metrics.refresh(store)
    finally:
        await store.close()
    seen = samples(metrics)
    assert seen[("kling_bot_tasks", (("state", "queued"),))] == 2
    assert seen[("kling_bot_tasks", (("state", "rejected"),))] == 1
    assert seen[("kling_bot_tasks", (("state", "delivered"),))] == 0
    assert seen[("kling_bot_queue_depth", ())] == 2
    assert seen[("kling_bot_in_flight", ())] == 1
    assert seen[("kling_bot_refunds_total", ())] == 1
    assert seen[("kling_bot_refunded_credits_total", ())] == 2


def test_process_metrics_are_there_for_the_operator() -> None:
    names = {name for name, _ in samples(PrometheusMetrics())}
    assert "process_resident_memory_bytes" in names or "python_info" in names

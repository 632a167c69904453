"""`/metrics`: what the bot did, in the Prometheus text format (prometheus-client).

Events come in through the `Telemetry` interface (`bot/domain/telemetry.py`), which the engine
and the client call without knowing about Prometheus. What the database already knows (tasks by
state, the queue, tasks at the API, refunds) is read from the store at each scrape, so it is right
after a restart too: the refund counters are totals over the database's whole history.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.telemetry import ApiOperation, Noticed
from bot.store import TaskStore

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Completion → noticed: a callback lands in well under a second, a poll within seconds.
NOTICED_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)
# Acknowledgements: Discord gives 3 s; the bot aims at tens of milliseconds.
ACK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class _Refunds(Collector):
    """Refunds ever written to the ledger: counters that survive restarts, as the ledger does."""

    def __init__(self) -> None:
        self.count = 0
        self.credits = 0

    def collect(self) -> Iterator[Metric]:
        refunds = CounterMetricFamily(
            "kling_bot_refunds", "Tasks whose credits were given back (every failure refunds)."
        )
        refunds.add_metric([], self.count)
        yield refunds
        credits = CounterMetricFamily(
            "kling_bot_refunded_credits", "Credits given back by those refunds."
        )
        credits.add_metric([], self.credits)
        yield credits


class PrometheusMetrics:
    """The bot's metrics on their own registry; implements `Telemetry`."""

    def __init__(self, *, with_process: bool = True) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tasks = Gauge(
            "kling_bot_tasks", "Tasks in the database by state.", ["state"], registry=registry
        )
        self.queue_depth = Gauge(
            "kling_bot_queue_depth", "Tasks waiting in the local queue.", registry=registry
        )
        self.in_flight = Gauge(
            "kling_bot_in_flight",
            "Tasks at the API (being sent, running, or being reconciled).",
            registry=registry,
        )
        self.api_requests = Counter(
            "kling_bot_api_requests",
            "HTTP attempts at CometAPI by operation (create, query) and outcome (ok, or the "
            "kind of error: rate_limited, transient, auth, ...).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.noticed = Histogram(
            "kling_bot_completion_noticed_seconds",
            "From the moment the API says a task ended to the moment the bot knew, by how it "
            "learned (poll or callback).",
            ["via"],
            buckets=NOTICED_BUCKETS_S,
            registry=registry,
        )
        self.ack = Histogram(
            "kling_bot_ack_latency_seconds",
            "From Discord creating an interaction that asks for a video (/video, /storyboard, "
            "Edit with Kling) to the bot's answer.",
            buckets=ACK_BUCKETS_S,
            registry=registry,
        )
        self.deliveries = Counter(
            "kling_bot_deliveries",
            "Results posted, by form: file (attached MP4) or link.",
            ["form"],
            registry=registry,
        )
        self.quota_refusals = Counter(
            "kling_bot_quota_refusals",
            "Requests refused for lack of credits or an in-flight cap.",
            registry=registry,
        )
        self.callbacks = Counter(
            "kling_bot_callbacks",
            "Omni callbacks received, by outcome (accepted, forbidden, malformed).",
            ["outcome"],
            registry=registry,
        )
        self._refunds = _Refunds()
        registry.register(self._refunds)
        if with_process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)

    # -- Telemetry -----------------------------------------------------------------------------

    def loop_ticked(self, loop: str) -> None:
        """Not a metric (health reads it from `Vitals`)."""

    def api_called(self, operation: ApiOperation, outcome: str) -> None:
        """Count one API attempt."""
        self.api_requests.labels(operation, outcome).inc()

    def completion_noticed(self, delay_s: float, via: Noticed) -> None:
        """Observe one completion → noticed delay."""
        self.noticed.labels(via).observe(delay_s)

    def delivered(self, form: str) -> None:
        """Count one posted result."""
        self.deliveries.labels(form).inc()

    def quota_refused(self) -> None:
        """Count one refusal."""
        self.quota_refusals.inc()

    def acknowledged(self, latency_s: float) -> None:
        """Observe one acknowledgement."""
        self.ack.observe(latency_s)

    def callback_received(self, outcome: str) -> None:
        """Count one callback."""
        self.callbacks.labels(outcome).inc()

    # -- scraping ------------------------------------------------------------------------------

    async def refresh(self, store: TaskStore) -> None:
        """Read what the database knows (before rendering a scrape)."""
        counts = await store.count_by_state()
        for state in TaskState:
            self.tasks.labels(state.value).set(counts.get(state, 0))
        self.queue_depth.set(counts.get(TaskState.QUEUED, 0))
        self.in_flight.set(sum(counts.get(state, 0) for state in AT_API_STATES))
        self._refunds.count, self._refunds.credits = await store.refund_totals()

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)

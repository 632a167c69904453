"""What the running bot tells its operator about itself: the interface the code calls.

The engine, the API client and the Discord side report what happened through `Telemetry` and
know nothing of Prometheus: `bot/http/metrics.py` implements it as metrics, `Vitals` keeps what
`/healthz` needs (when each loop last ran, when the API last answered), and `Fanout` gives one
object to all of them. `NoTelemetry` is the default where nobody listens (tests, the terminal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, Protocol

ApiOperation = Literal["create", "query"]
Noticed = Literal["poll", "callback"]
API_OK = "ok"


class Telemetry(Protocol):
    """Events worth counting; every method is cheap, synchronous and never raises."""

    def loop_ticked(self, loop: str) -> None:
        """A background loop (`submitter`, `tracker`) went round once: it is alive."""

    def api_called(self, operation: ApiOperation, outcome: str) -> None:
        """One HTTP attempt at the API ended: `ok`, or the `ApiErrorKind` value of its error."""

    def completion_noticed(self, delay_s: float, via: Noticed) -> None:
        """The bot learned that a task ended, `delay_s` after the API says it did."""

    def delivered(self, form: str) -> None:
        """A result was posted as a `file` or a `link`."""

    def quota_refused(self) -> None:
        """A member was refused for lack of credits or an in-flight cap."""

    def acknowledged(self, latency_s: float) -> None:
        """A command was acknowledged `latency_s` after Discord created the interaction."""

    def callback_received(self, outcome: str) -> None:
        """An Omni callback arrived: `accepted`, `forbidden` or `malformed`."""


class NoTelemetry:
    """Telemetry that goes nowhere."""

    def loop_ticked(self, loop: str) -> None:
        """Ignored."""

    def api_called(self, operation: ApiOperation, outcome: str) -> None:
        """Ignored."""

    def completion_noticed(self, delay_s: float, via: Noticed) -> None:
        """Ignored."""

    def delivered(self, form: str) -> None:
        """Ignored."""

    def quota_refused(self) -> None:
        """Ignored."""

    def acknowledged(self, latency_s: float) -> None:
        """Ignored."""

    def callback_received(self, outcome: str) -> None:
        """Ignored."""


class Vitals(NoTelemetry):
    """When each loop last went round and when the API last answered well (for `/healthz`)."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self.ticks: dict[str, float] = {}  # loop name → monotonic time of its last round
        self.last_api_success_at: datetime | None = None
        self.api_failures_since_success = 0

    def loop_ticked(self, loop: str) -> None:
        """Remember that the loop is alive now."""
        self.ticks[loop] = self._monotonic()

    def api_called(self, operation: ApiOperation, outcome: str) -> None:
        """Remember the last success, and count the failures after it."""
        if outcome == API_OK:
            self.last_api_success_at = self._wall()
            self.api_failures_since_success = 0
        else:
            self.api_failures_since_success += 1

    def tick_ages_s(self) -> dict[str, float]:
        """Seconds since each loop last went round."""
        now = self._monotonic()
        return {loop: max(0.0, now - at) for loop, at in self.ticks.items()}


class Fanout:
    """One `Telemetry` that tells several."""

    def __init__(self, *targets: Telemetry) -> None:
        self._targets = targets

    def loop_ticked(self, loop: str) -> None:
        """Tell every target."""
        for target in self._targets:
            target.loop_ticked(loop)

    def api_called(self, operation: ApiOperation, outcome: str) -> None:
        """Tell every target."""
        for target in self._targets:
            target.api_called(operation, outcome)

    def completion_noticed(self, delay_s: float, via: Noticed) -> None:
        """Tell every target."""
        for target in self._targets:
            target.completion_noticed(delay_s, via)

    def delivered(self, form: str) -> None:
        """Tell every target."""
        for target in self._targets:
            target.delivered(form)

    def quota_refused(self) -> None:
        """Tell every target."""
        for target in self._targets:
            target.quota_refused()

    def acknowledged(self, latency_s: float) -> None:
        """Tell every target."""
        for target in self._targets:
            target.acknowledged(latency_s)

    def callback_received(self, outcome: str) -> None:
        """Tell every target."""
        for target in self._targets:
            target.callback_received(outcome)

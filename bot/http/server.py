"""The HTTP server on `[http] listen` (aiohttp's): `/healthz`, `/metrics`, and more routes given.

Off unless configured. It owns nothing but its listener: the bot's services hand it the ways to
read health and metrics, and `start()`/`stop()` bound its life to the bot's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.features.health import HealthFacts, assess
from bot.http.listen import Served, serve
from bot.http.metrics import CONTENT_TYPE, PrometheusMetrics
from bot.store import TaskStore

log = logging.getLogger(__name__)

AddRoutes = Callable[[web.Application], None]


class HttpServer(Served):
    """`/healthz` (200 or 503 with JSON) and `/metrics` (Prometheus), plus `add_routes`."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        facts: Callable[[], Awaitable[HealthFacts]],
        metrics: PrometheusMetrics,
        store: TaskStore,
        add_routes: AddRoutes | None = None,
    ) -> None:
        self._address = address
        self._facts = facts
        self._metrics = metrics
        self._store = store
        self._add_routes = add_routes
        self._runner: web.AppRunner | None = None
        self.url = ""  # http://host:port once started (the port the system gave for port 0)

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        if self._add_routes is not None:
            self._add_routes(app)
        host, port = self._address
        self._runner, self.url = await serve(app, host, port, shutdown_timeout=2.0)
        log.info("http server listening on %s (/healthz, /metrics)", self.url)

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        report = assess(await self._facts())
        return web.json_response(report.body, status=200 if report.is_healthy else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        try:
            await self._metrics.refresh(self._store)
        except Exception:
            # The events counted in memory are still worth a scrape when the database is away.
            log.warning("metrics: the database could not be read", exc_info=True)
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

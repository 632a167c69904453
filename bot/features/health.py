"""Is the bot healthy? The facts, the verdict, and the file `kling-bot health` reads.

The verdict is a pure function of plain facts: the gateway is connected, the database answers,
the engine's loops went round lately. Queue depth, tasks in flight and the last good API call are
reported but are not a verdict: CometAPI being down is not a reason to restart the bot (it would
come back to the same API). `/healthz` serves the report; without an HTTP server the bot writes
it to `<database>.health` every few seconds (`HealthFile`), and `kling-bot health` judges it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.lifecycle import AT_API_STATES, TaskState
from bot.domain.telemetry import Vitals
from bot.engine.periodic import Periodic
from bot.store import TaskStore

log = logging.getLogger(__name__)

ENGINE_LOOPS = ("submitter", "tracker")
STALE_LOOP_S = 60.0  # the loops go round every 5 s at least; a minute without means stuck
DATABASE_TIMEOUT_S = 5.0
HEALTH_FILE_STALE_S = 60.0  # a health file older than this: the bot is not running (or hung)


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the bot knows about itself at one moment."""

    gateway_connected: bool
    database_error: str | None  # None: the database answered
    loop_ages_s: dict[str, float]  # seconds since each loop last went round
    queue_depth: int | None
    in_flight: int | None
    last_api_success_at: datetime | None
    api_failures_since_success: int
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The verdict: healthy or not, what is down (in words), and the JSON body to show."""

    is_healthy: bool
    down: tuple[str, ...]
    body: dict[str, object]


def assess(facts: HealthFacts, *, stale_loop_s: float = STALE_LOOP_S) -> HealthReport:
    """Healthy when the gateway is up, the database answers and every engine loop is alive."""
    down: list[str] = []
    if not facts.gateway_connected:
        down.append("gateway: not connected to Discord")
    if facts.database_error is not None:
        down.append(f"database: {facts.database_error}")
    for loop in ENGINE_LOOPS:
        age = facts.loop_ages_s.get(loop)
        if age is None:
            down.append(f"engine: the {loop} loop is not running")
        elif age > stale_loop_s:
            down.append(f"engine: the {loop} loop last ran {age:.0f} s ago")
    last_api = facts.last_api_success_at
    body: dict[str, object] = {
        "status": "down" if down else "ok",
        "down": down,
        "gateway_connected": facts.gateway_connected,
        "database_reachable": facts.database_error is None,
        "engine_loops_last_ran_s_ago": {
            loop: round(age, 1) for loop, age in sorted(facts.loop_ages_s.items())
        },
        "queue_depth": facts.queue_depth,
        "in_flight": facts.in_flight,
        "last_api_success_at": None if last_api is None else last_api.isoformat(),
        "api_failures_since_success": facts.api_failures_since_success,
        "checked_at": facts.checked_at.isoformat(),
    }
    return HealthReport(not down, tuple(down), body)


async def gather_facts(
    store: TaskStore, vitals: Vitals, is_gateway_connected: Callable[[], bool]
) -> HealthFacts:
    """Ask the database (with a time limit) and read what the loops and the client reported."""
    database_error: str | None = None
    queue_depth: int | None = None
    in_flight: int | None = None
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            await store.ping()
            queue_depth = await store.count_in_states([TaskState.QUEUED])
            in_flight = await store.count_in_states(AT_API_STATES)
    except TimeoutError:
        database_error = f"no answer within {DATABASE_TIMEOUT_S:g} s"
    except Exception as exc:  # whatever it is, the report must still be made
        database_error = f"{type(exc).__name__}: {exc}"
    return HealthFacts(
        gateway_connected=is_gateway_connected(),
        database_error=database_error,
        loop_ages_s=vitals.tick_ages_s(),
        queue_depth=queue_depth,
        in_flight=in_flight,
        last_api_success_at=vitals.last_api_success_at,
        api_failures_since_success=vitals.api_failures_since_success,
    )


def health_file_for(database: Path) -> Path:
    """Where the bot writes its health report when it has no HTTP server."""
    return database.with_name(database.name + ".health")


class HealthFile:
    """Writes the health report to a file every `every_s` seconds, for `kling-bot health`.

    Owned by the bot's services: `start()` in setup, `stop()` on close; `run_once()` for tests.
    """

    def __init__(
        self,
        path: Path,
        facts: Callable[[], Awaitable[HealthFacts]],
        *,
        every_s: float = 10.0,
    ) -> None:
        self.path = path
        self._facts = facts
        self._loop = Periodic("health-file", every_s, self.run_once, self._not_written)

    async def run_once(self) -> HealthReport:
        """Gather the facts, judge them and write the report (atomically)."""
        report = assess(await self._facts())
        await asyncio.to_thread(_write_atomically, self.path, json.dumps(report.body))
        return report

    def start(self) -> None:
        """Write the report now and then every few seconds, until `stop()`."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop writing and remove the file (a stopped bot is not healthy)."""
        await self._loop.stop()
        await asyncio.to_thread(self.path.unlink, True)

    def _not_written(self) -> None:
        log.exception("health report not written to %s", self.path)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def judge_health_file(
    path: Path, *, now: datetime, stale_s: float = HEALTH_FILE_STALE_S
) -> str | None:
    """None when the report in `path` is fresh and healthy, else why the bot is not healthy."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        checked_at = datetime.fromisoformat(str(body["checked_at"]))
    except FileNotFoundError:
        return f"no health report at {path}: the bot is not running (or not on this database)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"the health report at {path} can't be read: {type(exc).__name__}"
    age_s = (now - checked_at).total_seconds()
    if age_s > stale_s:
        return f"the last health report is {age_s:.0f} s old: the bot is stuck or stopped"
    down = body.get("down") or []
    if down:
        return "; ".join(str(part) for part in down)
    return None


def probe_url(address: tuple[str, int]) -> str:
    """The `/healthz` URL of a server listening on `address`, as seen from this machine."""
    host, port = address
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


def probe_http(url: str, *, timeout_s: float = 10.0) -> str | None:
    """None when `url` answers 200, else why not (blocking: for `kling-bot health`)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            response.read()
        return None
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
            down = "; ".join(str(part) for part in body.get("down", []))
        except (ValueError, AttributeError):
            down = ""
        return down or f"{url} answered {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"{url} can't be reached ({reason}): the bot is not running, or not listening there"

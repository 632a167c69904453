"""The bot's HTTP server and health report, read from outside while members use the bot."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli.main import main
from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to
from bot.fakes.harness import config_toml
from bot.settings import Settings

SETTLE_S = 30  # a guard against hangs, not a speed assertion
WITH_HTTP = {"http": {"listen": "127.0.0.1:0"}, "quotas": {"default_limit": 2}}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def metric_samples(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    """Samples by (name, labels as `k=v,…`)."""
    async with http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def health_command(config: Path) -> int:
    """`kling-bot health --config FILE`, as Docker's HEALTHCHECK runs it."""
    return main(["health", "--config", str(config)])


def write_config(settings: Settings, tmp_path: Path, listen: str = "") -> Path:
    path = tmp_path / "config.toml"
    text = config_toml(settings)
    if listen:
        text = text.replace('listen = "127.0.0.1:0"', f'listen = "{listen}"')
    path.write_text(text, encoding="utf-8")
    return path


async def until(check: Callable[[], bool | Awaitable[bool]]) -> None:
    """Wait until `check()` (sync or async) holds."""

    async def wait() -> None:
        while True:
            result = check()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), SETTLE_S)


@pytest.mark.parametrize("bot_config", [WITH_HTTP])
async def test_healthz_and_metrics_follow_what_members_do(
    fake_discord: FakeDiscord,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    http: aiohttp.ClientSession,
    bot_settings: Settings,
    tmp_path: Path,
) -> None:
    server = kling_bot.services.http
    assert server is not None and server.url.startswith("http://127.0.0.1:")
    status, health = await get_json(http, server.url + "/healthz")
    assert status == 200, health
    assert health["status"] == "ok" and health["down"] == []
    assert health["gateway_connected"] and health["database_reachable"]
    assert set(health["engine_loops_last_ran_s_ago"]) == {"submitter", "tracker"}
    assert (health["queue_depth"], health["in_flight"]) == (0, 0)

    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="a paper boat in the rain")
    await itx.wait_ack()
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id)
    bob = fake_discord.member(fake_discord.default.bob)
    for prompt in ("FAILME a storm", "a second one", "a third one: over the quota"):
        await (await bob.run("video", prompt=prompt)).wait_response()

    async def settled() -> bool:
        tasks = await kling_bot.services.store.list_tasks()
        return len(tasks) == 3 and all(t.is_terminal for t in tasks)

    await until(settled)
    seen = await metric_samples(http, server.url + "/metrics")
    assert seen[("kling_bot_tasks", "state=delivered")] == 2
    assert seen[("kling_bot_tasks", "state=failed")] == 1
    assert seen[("kling_bot_api_requests_total", "operation=create,outcome=ok")] == 3
    assert seen[("kling_bot_api_requests_total", "operation=query,outcome=ok")] >= 3
    assert seen[("kling_bot_deliveries_total", "form=file")] == 2
    assert seen[("kling_bot_refunds_total", "")] == 1
    assert seen[("kling_bot_quota_refusals_total", "")] == 1
    assert seen[("kling_bot_ack_latency_seconds_count", "")] == 3
    # Every end the tracker saw (two videos, one failure) was timed from the API's own clock.
    assert seen[("kling_bot_completion_noticed_seconds_count", "via=poll")] == 3
    assert (seen[("kling_bot_queue_depth", "")], seen[("kling_bot_in_flight", "")]) == (0, 0)
    status, health = await get_json(http, server.url + "/healthz")
    assert health["last_api_success_at"] is not None

    # Docker's HEALTHCHECK asks the same server (the command blocks: run it beside the loop).
    config = write_config(bot_settings, tmp_path, listen=server.url.removeprefix("http://"))
    assert await asyncio.to_thread(health_command, config) == 0

    await fake_discord.disconnect_gateway(resumable=True, hold=True)
    await until(lambda: not kling_bot.is_gateway_connected)
    status, health = await get_json(http, server.url + "/healthz")
    assert status == 503
    assert health["down"] == ["gateway: not connected to Discord"]
    assert await asyncio.to_thread(health_command, config) == 1
    fake_discord.gateway.release()
    await until(lambda: kling_bot.is_gateway_connected)
    assert (await get_json(http, server.url + "/healthz"))[0] == 200


async def test_without_an_http_server_the_health_file_answers(
    fake_discord: FakeDiscord,
    kling_bot: KlingBot,
    bot_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services = kling_bot.services
    assert services.http is None and services.health_file is not None
    config = write_config(bot_settings, tmp_path)
    await services.health_file.run_once()
    assert await asyncio.to_thread(health_command, config) == 0
    await fake_discord.disconnect_gateway(resumable=True, hold=True)
    await until(lambda: not kling_bot.is_gateway_connected)
    await services.health_file.run_once()
    assert await asyncio.to_thread(health_command, config) == 1
    assert "unhealthy: gateway: not connected to Discord" in capsys.readouterr().err
    fake_discord.gateway.release()

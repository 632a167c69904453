"""`kling-bot check --online` and `kling-bot invite` against the fake Discord and fake CometAPI."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import discord
import pytest

from bot.cli.main import main
from bot.cli.online_check import CheckResult, check_online, client_id_from_token
from bot.domain.invite import invite_url
from bot.engine.assembly import engine_lock
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.harness import config_toml, settings_for
from bot.settings import Settings
from bot.store.migrate import load_migrations
from bot.store.sql_store import SqlStore


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeCometAPI]]:
    async with FakeDiscord() as fake_discord, FakeCometAPI() as fake_comet:
        yield fake_discord, fake_comet


def settings_with(
    fakes: tuple[FakeDiscord, FakeCometAPI], tmp_path: Path, **sections: dict[str, Any]
) -> Settings:
    return settings_for(*fakes, tmp_path / "data", **sections)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


async def test_everything_right(fakes: tuple[FakeDiscord, FakeCometAPI], tmp_path: Path) -> None:
    fake_discord, fake_comet = fakes
    settings = settings_with(fakes, tmp_path)
    results = by_name(await check_online(settings))
    assert all(result.is_ok for result in results.values()), results
    bot = fake_discord.state.world.bot
    assert f"logs in as the bot {bot.username} (id {bot.id})" in results["Discord"].message
    assert "the key is accepted by" in results["CometAPI"].message
    assert "will be created on the first start" in results["Database"].message
    (query,) = fake_comet.requests
    assert query.method == "GET" and query.auth == "valid"  # one free query, nothing created
    assert fake_comet.creates() == []


async def test_a_wrong_token_and_a_wrong_key_are_named_with_the_fix(
    fakes: tuple[FakeDiscord, FakeCometAPI], tmp_path: Path
) -> None:
    settings = settings_with(
        fakes,
        tmp_path,
        discord={"token": "not-the-token"},
        omni={"api_key": "sk-wrong-key"},
    )
    results = by_name(await check_online(settings))
    assert not results["Discord"].is_ok
    assert "Discord refused the bot token (401)" in results["Discord"].message
    assert "Reset Token" in results["Discord"].message
    assert not results["CometAPI"].is_ok
    assert "refused the key (401)" in results["CometAPI"].message
    assert results["Database"].is_ok
    for result in results.values():
        assert "not-the-token" not in result.message and "sk-wrong-key" not in result.message


async def test_an_api_that_cannot_be_reached(
    fakes: tuple[FakeDiscord, FakeCometAPI], tmp_path: Path
) -> None:
    settings = settings_with(fakes, tmp_path, omni={"base_url": "http://127.0.0.1:9"})
    result = by_name(await check_online(settings))["CometAPI"]
    assert not result.is_ok
    assert "http://127.0.0.1:9 could not be asked" in result.message
    assert "omni.base_url" in result.message


async def test_the_database_is_read_never_changed(
    fakes: tuple[FakeDiscord, FakeCometAPI], tmp_path: Path
) -> None:
    settings = settings_with(fakes, tmp_path)
    database = settings.storage.database
    store = await SqlStore.open(database)
    try:
        result = by_name(await check_online(settings))["Database"]
        latest = load_migrations()[-1].version
        assert result.is_ok and result.message.endswith(f"schema version {latest}, 0 tasks.")
        async with engine_lock(database):  # what a running bot holds
            result = by_name(await check_online(settings))["Database"]
        assert result.message.endswith("0 tasks. A bot is running on it now.")
    finally:
        await store.close()
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA user_version = 99")
    newer = by_name(await check_online(settings))["Database"]
    assert not newer.is_ok and "newer than this kling-bot knows" in newer.message
    database.write_bytes(b"this is not a database at all, just text" * 100)
    broken = by_name(await check_online(settings))["Database"]
    assert not broken.is_ok and "can't be read as a kling-bot database" in broken.message


async def test_the_command_says_which_check_failed(
    fakes: tuple[FakeDiscord, FakeCometAPI],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = settings_with(fakes, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(config_toml(good), encoding="utf-8")
    # The command blocks while the fakes serve on this loop: run it beside the loop.
    assert await asyncio.to_thread(main, ["check", "--online", "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert "✓ Discord: the token logs in as the bot" in out.out
    assert "✓ CometAPI: the key is accepted" in out.out
    wrong = config_toml(good).replace(good.omni.api_key.get_secret_value(), "sk-typo-123")
    config.write_text(wrong, encoding="utf-8")
    assert await asyncio.to_thread(main, ["check", "--online", "--config", str(config)]) == 1
    out = capsys.readouterr()
    assert "✓ Discord" in out.out and "✗ CometAPI:" in out.err
    token = good.discord.token.get_secret_value()
    assert token not in out.out + out.err and "sk-typo-123" not in out.out + out.err


NEEDED = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
)


def test_the_invite_asks_for_exactly_what_the_bot_needs() -> None:
    url = urlparse(invite_url(1234567890123))
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    assert query["client_id"] == ["1234567890123"]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(NEEDED.value)]


def real_looking_token(user_id: int) -> str:
    first = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    return f"{first}.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789ABC"


def test_the_application_id_is_read_from_the_token() -> None:
    assert client_id_from_token(real_looking_token(1180000000000000001)) == 1180000000000000001
    assert client_id_from_token("fake-bot-token.kling-omni") is None
    assert client_id_from_token("") is None


async def test_the_invite_command(
    fakes: tuple[FakeDiscord, FakeCometAPI],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_discord, _ = fakes
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("KLING_BOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["invite", "--client-id", "42"]) == 0
    assert "client_id=42" in capsys.readouterr().out
    monkeypatch.setenv("DISCORD_TOKEN", real_looking_token(77))
    assert main(["invite"]) == 0  # no network: the id is in the token
    out = capsys.readouterr().out
    assert "client_id=77" in out and "Send Messages in Threads" in out
    monkeypatch.delenv("DISCORD_TOKEN")
    assert main(["invite"]) == 2
    assert "give --client-id" in capsys.readouterr().err
    # A token that does not encode the id (the fake's): ask Discord for the application.
    config = tmp_path / "config.toml"
    config.write_text(config_toml(settings_with(fakes, tmp_path)), encoding="utf-8")
    assert await asyncio.to_thread(main, ["invite", "--config", str(config)]) == 0
    assert f"client_id={fake_discord.state.world.app_id}" in capsys.readouterr().out

"""What an operator meets with `storage.database` a PostgreSQL URL: the bot as a process against
the fakes and the test server. The start-up line names the database with its password masked;
no lock file is made (several processes share the server); the health report and the callback
key live in the shared media_dir; `health` and `tasks` read the same places."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.harness import BotProcess, running_bot, settings_for
from bot.settings import Settings
from tests.helpers.cli import kling_bot, operator_env

pytestmark = pytest.mark.slow

# The test server trusts its clients: any password logs in, so one can be in the URL.
PASSWORD = "Db-Pass-Word-4e1f"


def with_password(url: str) -> str:
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user or 'postgres'}:{PASSWORD}@{host}").geturl()


def found(root: Path, pattern: str) -> list[Path]:
    return list(root.rglob(pattern))


@pytest.fixture
def bot_config(postgresql_url: str) -> dict[str, dict[str, Any]]:
    return {"storage": {"database": with_password(postgresql_url)}}


async def test_the_bot_runs_on_postgresql_without_a_lock_and_never_shows_the_password(
    bot_settings: Settings, bot_process: BotProcess, tmp_path: Path
) -> None:
    line = await bot_process.wait_for_line(" ready as ")
    masked = str(bot_settings.storage.database).replace(PASSWORD, "***")
    assert f"; database {masked};" in line
    media_dir = bot_settings.storage.media_dir
    env = operator_env()
    health = await kling_bot("health", "--config", str(bot_process.config), cwd=tmp_path, env=env)
    # It reads the report this very process writes (healthy or not: the first one may be from
    # before the gateway connected and the loops started, and the next comes within seconds).
    assert health.output.startswith(("✓ healthy\n", "✗ unhealthy: gateway: ")), health.output
    assert (media_dir / "health" / "bot.health").is_file()
    tasks = await kling_bot("tasks", "--config", str(bot_process.config), cwd=tmp_path, env=env)
    assert tasks.code == 0
    assert tasks.stdout == f"No tasks yet in {masked}.\n"
    assert await bot_process.stop() == 0
    assert not (media_dir / "health" / "bot.health").exists()  # a stopped bot is not healthy
    assert found(tmp_path, "*.lock") == []
    everything = "".join(bot_process.output) + health.output + tasks.output
    assert PASSWORD not in everything
    assert "Traceback" not in everything


async def test_every_process_finds_the_callback_key_in_the_shared_media_dir(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, tmp_path: Path, postgresql_url: str
) -> None:
    settings = settings_for(
        fake_discord,
        fake_comet,
        tmp_path / "bot-data",
        storage={"database": postgresql_url},
        http={"listen": "127.0.0.1:0"},
        omni={"callback_url": "https://bot.example/omni/callback"},
    )
    key_file = settings.storage.media_dir / "callback-key"
    async with running_bot(fake_discord, settings):
        assert key_file.is_file()
        made = key_file.read_bytes()
    # A second process (the next one started, or another shard) takes the same key.
    async with running_bot(fake_discord, settings):
        assert key_file.read_bytes() == made
    assert found(tmp_path, "*.callback-key") == []  # nothing beside a database file

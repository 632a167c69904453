"""What an operator reads when `kling-bot run` starts: processes against the fakes.

One line says who the bot is, where it is, what it runs on and how to invite it; discord.py's
voice warnings are gone; a wrong ID in `discord.guild_ids` is named with the invite link, and
the bot runs on in the servers it is in.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from bot.domain.about import bot_version
from bot.domain.invite import invite_url
from bot.fakes.discord import FakeDiscord
from bot.fakes.harness import BotProcess, config_toml
from bot.settings import Settings
from tests.helpers.cli import kling_bot, operator_env

pytestmark = pytest.mark.slow


@pytest.fixture
def bot_config(fake_discord: FakeDiscord) -> dict[str, dict[str, Any]]:
    """guild_ids as operators get them wrong: a channel's ID, and a server the bot never joined."""
    elsewhere = fake_discord.world.add_guild("Elsewhere", bot_permissions=None)
    default = fake_discord.default
    return {"discord": {"guild_ids": [default.general.id, default.guild.id, elsewhere.id]}}


async def test_one_start_up_line_and_no_voice_warnings(
    fake_discord: FakeDiscord, bot_settings: Settings, bot_process: BotProcess
) -> None:
    line = await bot_process.wait_for_line(" ready as ")
    assert f"Kling Omni Bot {bot_version()} ready as " in line
    assert f"(id {fake_discord.bot_user.id}) in 1 server(s)" in line
    assert f"; config {bot_process.config};" in line
    assert f"; database {bot_settings.storage.database.absolute()};" in line
    assert line.rstrip().endswith(f"; invite {invite_url(fake_discord.world.app_id)}")
    assert sum(" ready as " in printed for printed in bot_process.output) == 1
    before_ready = "".join(bot_process.output)
    assert "voice will NOT be supported" not in before_ready
    assert "PyNaCl" not in before_ready and "davey" not in before_ready


async def test_a_wrong_guild_id_is_named_with_the_invite_link(
    fake_discord: FakeDiscord, bot_settings: Settings, bot_process: BotProcess
) -> None:
    channel_id, guild_id, elsewhere_id = bot_settings.discord.guild_ids
    invite = invite_url(fake_discord.world.app_id)
    for wrong, answer in ((channel_id, "404"), (elsewhere_id, "403")):
        line = await bot_process.wait_for_line(f"discord.guild_ids has {wrong}, ")
        assert "ERROR" in line
        assert f"but the bot is not in that server (Discord answered {answer} " in line
        assert f"invite it with {invite} " in line
    await bot_process.wait_for_line(" ready as ")
    # The server it is in has its commands, and nothing crashed on the way.
    assert "video" in fake_discord.state.commands.scope(guild_id)
    assert not any("Traceback" in printed for printed in bot_process.output)
    assert await bot_process.stop() == 0


async def test_a_database_that_does_not_answer_is_named_without_its_password(
    bot_settings: Settings, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = bot_settings.model_copy(
        update={
            "storage": bot_settings.storage.model_copy(
                update={"database": f"postgresql://bot:Sekr1t-pw@127.0.0.1:{port}/kling"}
            )
        }
    )
    config = tmp_path / "config.toml"
    config.write_text(config_toml(settings), encoding="utf-8")
    result = await kling_bot("run", "--config", str(config), cwd=tmp_path, env=operator_env())
    assert result.code == 1
    assert f"postgresql://bot:***@127.0.0.1:{port}/kling" in result.stderr
    assert "storage.database" in result.stderr
    assert "Sekr1t-pw" not in result.output and "Traceback" not in result.output


async def test_a_discord_that_does_not_answer_is_named(
    bot_settings: Settings, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api_base = f"http://127.0.0.1:{port}/api/v10"
    settings = bot_settings.model_copy(
        update={"discord": bot_settings.discord.model_copy(update={"api_base": api_base})}
    )
    config = tmp_path / "config.toml"
    config.write_text(config_toml(settings), encoding="utf-8")
    result = await kling_bot("run", "--config", str(config), cwd=tmp_path, env=operator_env())
    assert result.code == 1
    assert f"Could not reach Discord at {api_base}" in result.stderr
    assert "Traceback" not in result.output

"""What an operator reads when `kling-bot run` starts: processes against the fakes.

One line says who the bot is, where it is, what it runs on and how to invite it; discord.py's
voice warnings are gone; a wrong ID in `discord.guild_ids` is named with the invite link, and
the bot runs on in the servers it is in.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.about import bot_version
from bot.domain.invite import invite_url
from bot.fakes.discord import FakeDiscord
from bot.fakes.harness import BotProcess
from bot.settings import Settings

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

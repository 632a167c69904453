"""`kling-bot run`: the bot until SIGINT/SIGTERM, then a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.discord.client import KlingBot, point_discord_py
from bot.engine.pause_points import PausePoints
from bot.settings import Settings

log = logging.getLogger(__name__)


async def run_bot(
    settings: Settings, *, config_source: str = "", pause_points: PausePoints | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly."""
    point_discord_py(settings.discord)
    bot = KlingBot(settings, config_source=config_source, pause_points=pause_points)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(settings.discord.token.get_secret_value()))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("stopping: finishing writes, every task stays resumable")
            await bot.close()
        stopper.cancel()
        await runner

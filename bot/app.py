"""Builds everything: settings → store → API client → engine → services → the discord.py bot.

One aiohttp session, one store, one client, passed in; no globals. `KlingBot.setup_hook` opens
them, loads the cogs, resumes every unfinished task and syncs the commands; `close()` stops the
engine first (creates in flight get a grace period), so every task stays resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from dataclasses import dataclass

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from discord.ext import commands

from bot.build import TerminalDeliverer, build_engine, engine_lock
from bot.clip_hosting import ClipHosting, InputPreparer
from bot.delivery import SplitDeliverer
from bot.discord_clips import DiscordClipHost
from bot.discord_delivery import DiscordDeliverer
from bot.element_library import ElementLibrary
from bot.engine import TaskEngine
from bot.errors import KlingBotError
from bot.generation import GenerationService
from bot.media import MediaStore
from bot.moderation import MemberFacts
from bot.progress_ticker import ProgressTicker, RenderEstimates
from bot.reruns import RerunService
from bot.result_actions import ResultActions
from bot.settings import DiscordSettings, Settings
from bot.status_messages import StatusUpdater
from bot.store import SqliteStore

log = logging.getLogger("bot.app")

COGS = (
    "cogs.video",
    "cogs.menus",
    "cogs.storyboard",
    "cogs.reruns",
    "cogs.results",
    "cogs.cancel",
    "cogs.elements",
    "cogs.quota",
    "cogs.tasks",
)
INTENTS = discord.Intents(guilds=True, guild_reactions=True)  # nothing privileged


def point_discord_py(settings: DiscordSettings) -> None:
    """Send discord.py to another Discord-compatible server, only where the config says so."""
    defaults = DiscordSettings()
    if settings.api_base != defaults.api_base:
        discord.http.Route.BASE = settings.api_base
    if settings.gateway_url != defaults.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


@dataclass
class Services:
    """What the cogs use; built once in `setup_hook`."""

    settings: Settings
    store: SqliteStore
    session: aiohttp.ClientSession
    engine: TaskEngine
    generation: GenerationService
    status: StatusUpdater
    resources: contextlib.AsyncExitStack
    reruns: RerunService
    results: ResultActions
    elements: ElementLibrary
    ticker: ProgressTicker

    async def close(self) -> None:
        """Stop the engine (tasks stay resumable), flush status edits, close I/O, unlock."""
        await self.engine.stop()
        await self.ticker.stop()
        await self.status.close()
        await self.resources.aclose()


class KlingTree(app_commands.CommandTree["KlingBot"]):
    """The command tree with the one error handler: members read sentences, never tracebacks."""

    async def on_error(
        self, interaction: discord.Interaction[KlingBot], error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        what = interaction.command.qualified_name if interaction.command else "?"
        await explain_failure(interaction, cause, what)


async def explain_failure(
    interaction: discord.Interaction[KlingBot], cause: BaseException, what: str
) -> None:
    """Tell the member privately what went wrong: our sentence, or a logged reference."""
    if isinstance(cause, KlingBotError):
        text = cause.member_message
    elif isinstance(cause, app_commands.TransformerError):
        # e.g. a member option naming someone who has left the server since
        text = (
            f"{cause.value!r} can't be used here: that member, role or file could not be "
            "found. Pick it again from the list."
        )
    elif isinstance(cause, app_commands.NoPrivateMessage):
        text = "This command only works in a server channel."
    elif isinstance(cause, app_commands.CheckFailure):
        text = str(cause) or "You can't use this command here."
    else:
        reference = uuid.uuid4().hex[:8]
        log.error(
            "command %s failed ref=%s guild_id=%s user_id=%s",
            what,
            reference,
            interaction.guild_id,
            interaction.user.id,
            exc_info=cause,
        )
        text = f"Something went wrong on the bot's side (ref {reference}); it was logged."
    await reply_privately(interaction, text)


def member_facts(member: discord.Member) -> MemberFacts:
    """What the moderator rule needs to know about a member, as plain data."""
    return MemberFacts(
        user_id=member.id,
        permissions=member.guild_permissions.value,
        role_ids=tuple(role.id for role in member.roles),
        role_names=tuple(role.name for role in member.roles),
        is_owner=member.guild.owner_id == member.id,
    )


async def reply_privately(interaction: discord.Interaction[KlingBot], text: str) -> None:
    """An ephemeral answer, whether or not the interaction was already acknowledged."""
    none = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


class KlingBot(commands.Bot):
    """The bot: guilds + guild_reactions intents only, slash commands, the task engine."""

    services: Services

    def __init__(self, settings: Settings, *, time_scale: float = 1.0, **options: object) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=INTENTS,
            help_command=None,
            tree_cls=KlingTree,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.time_scale = time_scale

    async def _queue_positions(self) -> dict[int, int]:
        return await self.services.engine.queue_positions()

    async def setup_hook(self) -> None:
        """Open everything, load the cogs, resume tasks, sync; on failure close what was opened."""
        resources = contextlib.AsyncExitStack()
        try:
            await self._set_up(resources)
        except BaseException:
            services = getattr(self, "services", None)
            if services is not None:
                await services.close()
            else:
                await resources.aclose()
            raise

    async def _set_up(self, resources: contextlib.AsyncExitStack) -> None:
        settings = self.settings
        # One process per database: `kling-bot submit` next to the bot would resume the bot's
        # creates in flight as crashed ones.
        await resources.enter_async_context(engine_lock(settings.storage.database))
        store = await SqliteStore.open(settings.storage.database)
        resources.push_async_callback(store.close)
        session = aiohttp.ClientSession()
        resources.push_async_callback(session.close)
        estimates = RenderEstimates(store)
        status = StatusUpdater(
            self, store, positions=self._queue_positions, estimates=estimates.expected_s
        )
        deliverer = SplitDeliverer(
            DiscordDeliverer(self, store),
            TerminalDeliverer(settings.storage.media_dir / "results"),
        )
        media = MediaStore(
            settings.storage.media_dir,
            session,
            max_clip_bytes=settings.storage.max_video_mb * 1000 * 1000,
        )
        hosting = ClipHosting(store, media, DiscordClipHost(self))
        engine = build_engine(
            settings,
            session,
            store,
            deliverer,
            status,
            time_scale=self.time_scale,
            prepare=InputPreparer(media, hosting).prepare,
        )
        elements = ElementLibrary(store, settings.quotas)
        generation = GenerationService(engine, settings, media, hosting, elements=elements)
        self.services = Services(
            settings=settings,
            store=store,
            session=session,
            engine=engine,
            generation=generation,
            status=status,
            resources=resources,
            reruns=RerunService(store, generation, settings),
            results=ResultActions(store, settings.quotas),
            elements=elements,
            ticker=ProgressTicker(store, status),
        )
        for extension in COGS:
            await self.load_extension(extension)
        found = await engine.start()
        log.info("engine started; resumed %s unfinished tasks", sum(found.values()))
        await status.resume()  # final states a stop left unshown, places in line that moved
        self.services.ticker.start()  # progress bars of tasks being rendered
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync to the configured servers (instant), or globally when none are configured."""
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild_id=%s", len(synced), guild_id)

    async def close(self) -> None:
        """Stop the engine before the gateway, so nothing is cut off mid-write."""
        services = getattr(self, "services", None)
        if services is not None:
            await services.close()
        await super().close()


async def run_bot(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly."""
    point_discord_py(settings.discord)
    bot = KlingBot(settings)
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

"""Builds everything: settings → store → API client → engine → services → the discord.py bot.

One aiohttp session, one store, one client, passed in; no globals. `KlingBot.setup_hook` opens
them, loads the cogs, resumes every unfinished task and syncs the commands; `close()` stops the
engine first (creates in flight get a grace period), so every task stays resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from bot.discord.answers import KlingTree
from bot.discord.clips import DiscordClipHost
from bot.discord.delivery import DiscordDeliverer
from bot.discord.language import CatalogueTranslator
from bot.discord.pacing import EditPacer
from bot.discord.sharding import ShardLinks, describe_shards, shard_options
from bot.discord.status import StatusUpdater
from bot.discord.time import DiscordClock
from bot.discord.trace import discord_trace
from bot.domain.about import NAME, bot_version
from bot.domain.callback_tokens import CallbackSigner, load_or_create_key
from bot.domain.clock import Clock
from bot.domain.invite import invite_url
from bot.domain.telemetry import Fanout, Vitals
from bot.engine.assembly import TerminalDeliverer, build_engine, engine_lock
from bot.engine.clock import SYSTEM_CLOCK
from bot.engine.courier import SplitDeliverer
from bot.engine.pause_points import PausePoints
from bot.engine.progress_ticker import ProgressTicker, RenderEstimates
from bot.engine.task_engine import TaskEngine
from bot.features.chain_post import ChainPost
from bot.features.clip_hosting import ClipHosting, InputPreparer
from bot.features.elements import ElementLibrary
from bot.features.extensions import ExtensionService
from bot.features.generation import GenerationService
from bot.features.health import HealthFacts, HealthFile, gather_facts
from bot.features.media import MediaStore
from bot.features.reruns import RerunService
from bot.features.result_gifs import ResultGifs
from bot.features.results import ResultActions
from bot.features.retention import MediaRetention
from bot.http.callbacks import CallbackReceiver
from bot.http.metrics import PrometheusMetrics
from bot.http.server import HttpServer
from bot.locales import load_catalogues
from bot.settings import DiscordSettings, Settings
from bot.settings.database import callback_key_file, health_file_for, shown_database
from bot.store.sql_store import SqlStore

log = logging.getLogger(__name__)

COGS = (
    "cogs.video",
    "cogs.menus",
    "cogs.storyboard",
    "cogs.reruns",
    "cogs.results",
    "cogs.result_verbs",
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
    clock: Clock
    store: SqlStore
    session: aiohttp.ClientSession
    engine: TaskEngine
    generation: GenerationService
    status: StatusUpdater
    resources: contextlib.AsyncExitStack
    reruns: RerunService
    results: ResultActions
    extensions: ExtensionService
    gifs: ResultGifs
    elements: ElementLibrary
    ticker: ProgressTicker
    vitals: Vitals
    metrics: PrometheusMetrics
    http: HttpServer | None = None
    health_file: HealthFile | None = None
    retention: MediaRetention | None = None

    async def close(self) -> None:
        """Stop the engine (tasks stay resumable), flush status edits, close I/O, unlock."""
        if self.http is not None:
            await self.http.stop()
        if self.health_file is not None:
            await self.health_file.stop()
        if self.retention is not None:
            await self.retention.stop()
        await self.engine.stop()
        await self.ticker.stop()
        await self.status.close()
        await self.resources.aclose()


class KlingBot(commands.AutoShardedBot):
    """The bot: guilds + guild_reactions intents only, slash commands, the task engine; the
    shards of `discord.shard_ids` (all by default), one websocket each."""

    services: Services

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        config_source: str = "",
        pause_points: PausePoints | None = None,
        **options: object,
    ) -> None:
        # The bot has no voice: discord.py's warnings that voice libraries are missing (PyNaCl,
        # davey) would only send operators after packages they don't need.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        # Discord's answers tell its time and each channel's edit budget in their headers: the
        # clock and the pacer of status edits learn them from discord.py's own session.
        self.edit_pacer = EditPacer()
        self.discord_clock = DiscordClock()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=INTENTS,
            help_command=None,
            tree_cls=KlingTree,
            http_trace=discord_trace(self.discord_clock, self.edit_pacer),
            **shard_options(settings.discord),
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        # The time the engine and the use cases run on (a faster one in the demo and tests);
        # Discord's own timers (tokens, rate limits) stay on the real clock.
        self.clock = clock
        self.config_source = config_source  # the config file read, for the start-up line
        self._has_said_ready = False
        self.pause_points = pause_points or PausePoints()  # test-only: none armed in production
        self.shard_links = ShardLinks(self, changed=self._report_health)

    async def _report_health(self) -> None:
        """A shard came up or went down: the health file says so now, not at its next round."""
        services = getattr(self, "services", None)
        if services is not None and services.health_file is not None:
            await services.health_file.run_once()

    @property
    def running_shards(self) -> list[int]:
        """The shards this process runs (empty until it knows how many there are)."""
        return list(self.shard_ids or range(self.shard_count or 0))

    @property
    def is_gateway_connected(self) -> bool:
        """Whether every shard of this process has a live gateway session."""
        return not self.is_closed() and self.shard_links.are_all_up(self.running_shards)

    def note_acknowledged(self, interaction: discord.Interaction[KlingBot]) -> None:
        """Count how long after Discord made it this interaction was answered."""
        latency_s = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        self.services.engine.telemetry.acknowledged(max(0.0, latency_s))

    async def health_facts(self) -> HealthFacts:
        """What `/healthz` and the health file report."""
        services = self.services
        return await gather_facts(
            services.store, services.vitals, lambda: self.is_gateway_connected
        )

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
        database = settings.storage.database
        if isinstance(database, Path):
            # One process per SQLite file: `kling-bot submit` next to the bot would resume the
            # bot's creates in flight as crashed ones. PostgreSQL is shared by several processes.
            await resources.enter_async_context(engine_lock(database))
        # The members' languages: compiled once, off the loop, before any sentence is needed.
        await asyncio.to_thread(load_catalogues)
        await self.tree.set_translator(CatalogueTranslator())
        store = await SqlStore.open(settings.storage.database)
        resources.push_async_callback(store.close)
        session = aiohttp.ClientSession()
        resources.push_async_callback(session.close)
        vitals = Vitals()
        metrics = PrometheusMetrics()
        telemetry = Fanout(vitals, metrics)
        estimates = RenderEstimates(store)
        status = StatusUpdater(
            self,
            store,
            positions=self._queue_positions,
            pacer=self.edit_pacer,
            estimates=estimates.expected_s,
            now=self.clock.now,
        )
        results_dir = settings.storage.media_dir / "results"
        deliverer = SplitDeliverer(
            DiscordDeliverer(self, store, telemetry, extras=ChainPost(store, results_dir)),
            TerminalDeliverer(results_dir),
        )
        media = MediaStore(
            settings.storage.media_dir,
            session,
            max_clip_bytes=settings.storage.max_video_mb * 1000 * 1000,
        )
        hosting = ClipHosting(store, media, DiscordClipHost(self))
        callbacks = None
        if settings.omni.callback_url:  # settings make sure [http] listen is set too
            key_file = callback_key_file(settings.storage)
            key = await asyncio.to_thread(load_or_create_key, key_file)
            callbacks = CallbackSigner(key, settings.omni.callback_url)
        engine = build_engine(
            settings,
            session,
            store,
            deliverer,
            status,
            clock=self.clock,
            prepare=InputPreparer(media, hosting).prepare,
            forget_inputs=media.forget,
            telemetry=telemetry,
            callbacks=callbacks,
        )
        now = self.clock.now
        elements = ElementLibrary(store, settings.quotas, clock=now)
        generation = GenerationService(
            engine, settings, media, hosting, elements=elements, clock=now
        )
        reruns = RerunService(store, generation, settings, clock=now)
        self.services = Services(
            settings=settings,
            clock=self.clock,
            store=store,
            session=session,
            engine=engine,
            generation=generation,
            status=status,
            resources=resources,
            reruns=reruns,
            results=ResultActions(store, settings.quotas, clock=now),
            extensions=ExtensionService(store, generation, reruns, settings, clock=now),
            gifs=ResultGifs(reruns, session, results_dir),
            elements=elements,
            ticker=ProgressTicker(store, status),
            vitals=vitals,
            metrics=metrics,
        )
        for extension in COGS:
            await self.load_extension(extension)
        # Listening before the first create: its callbacks must find the route.
        await self._start_health_reporting(callbacks)
        found = await engine.start()
        log.info("engine started; resumed %s unfinished tasks", sum(found.values()))
        await status.resume()  # final states a stop left unshown, places in line that moved
        self.services.retention = MediaRetention(
            store, settings.storage.media_dir, keep_days=settings.storage.keep_media_days
        )
        self.services.retention.start()
        self.services.ticker.start()  # progress bars of tasks being rendered
        await self.sync_commands()
        # What start-up made (modules, the command tree, discord.py's caches) lives as long as
        # the bot: out of every later full collection, which would otherwise pause the loop
        # for tens of milliseconds in the middle of a burst of commands.
        gc.freeze()

    async def _start_health_reporting(self, callbacks: CallbackSigner | None) -> None:
        """`/healthz`, `/metrics` and the callback route on `[http] listen`, else the health
        file."""
        services = self.services
        address = self.settings.http.address
        if address is None:
            where = health_file_for(self.settings.storage, self.settings.discord.shard_ids)
            services.health_file = HealthFile(where, self.health_facts)
            services.health_file.start()
            return
        receiver = None if callbacks is None else CallbackReceiver(callbacks, services.engine)
        services.http = HttpServer(
            address,
            facts=self.health_facts,
            metrics=services.metrics,
            store=services.store,
            add_routes=None if receiver is None else receiver.add_routes,
        )
        await services.http.start()

    async def sync_commands(self) -> None:
        """Sync to the configured servers (instant), or globally when none are configured.

        A server that refuses (a wrong ID in `discord.guild_ids`, or the bot was never invited
        there) is named with the invite link; the others are synced and the bot runs.
        """
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except (discord.NotFound, discord.Forbidden) as error:
                log.error(
                    "discord.guild_ids has %s, but the bot is not in that server (Discord "
                    "answered %s %s): invite it with %s (the invite also grants the "
                    "applications.commands scope), or remove that ID; a server's ID is under "
                    "right-click on its icon → Copy Server ID, not a channel's",
                    guild_id,
                    error.status,
                    error.text or error.code,
                    self.invite_link,
                )
                continue
            log.info("synced %d commands to guild_id=%s", len(synced), guild_id)

    @property
    def invite_link(self) -> str:
        """The link that adds this bot to a server with the permissions it needs."""
        if self.application_id is None:
            return "(unknown until the bot has logged in)"
        return invite_url(self.application_id)

    async def on_ready(self) -> None:
        """Say once, in one line, who the bot is, where it is, and what it runs on."""
        if self._has_said_ready:
            return  # on_ready comes again after every reconnect
        self._has_said_ready = True
        log.info(
            "%s %s ready as %s (id %s) in %d server(s) on %s; config %s; database %s; invite %s",
            NAME,
            bot_version(),
            self.user,
            self.user.id if self.user else "?",
            len(self.guilds),
            describe_shards(self.running_shards, self.shard_count),
            self.config_source or "(given in code)",
            shown_database(self.settings.storage.database),
            self.invite_link,
        )

    async def close(self) -> None:
        """Stop the engine before the gateway, so nothing is cut off mid-write."""
        services = getattr(self, "services", None)
        if services is not None:
            await services.close()
        await super().close()

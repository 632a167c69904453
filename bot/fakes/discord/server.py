"""FakeDiscord: the loopback server (REST, gateway, CDN, control) and its Python control API."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Literal

from aiohttp import web

from bot.fakes.discord.control import Control
from bot.fakes.discord.gateway import Gateway
from bot.fakes.discord.injection import FailureInjection
from bot.fakes.discord.member import MemberDriver
from bot.fakes.discord.messages import Message
from bot.fakes.discord.models import GUILD_FORUM, Channel, Guild, Member, Role, User
from bot.fakes.discord.ratelimits import RateLimits, Verdict
from bot.fakes.discord.recording import DROPPED, RequestRecord
from bot.fakes.discord.rest import API_PREFIX, Rest
from bot.fakes.discord.snowflakes import Clock
from bot.fakes.discord.state import DEFAULT_NONCE_WINDOW_S, FakeState
from bot.fakes.discord.webhooks import Webhooks
from bot.fakes.discord.wire import (
    PAYLOAD_KEY,
    DiscordError,
    error_response,
    json_response,
    too_many_requests,
)
from bot.fakes.discord.world import DefaultWorld, World
from bot.fakes.discord.world_changes import WorldChanges

DEFAULT_TOKEN = "fake-bot-token.kling-omni"
_TOKEN_ROUTES = ("/interactions/", "/webhooks/")  # authenticated by the interaction token
_DROPPED_KEY = web.RequestKey("fake_dropped", bool)  # set when an injection dropped the request
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeDiscord(WorldChanges, FailureInjection):
    """A strict loopback Discord for the real discord.py client (tests and ``kling-bot demo``).

    ``nonce_window_s``: how long an enforced message nonce keeps answering the first message
    (measured on ``clock``; ``state.nonce_window_s`` can be changed on a running fake).
    ``rate_limits``: Discord's buckets and global limit, enforced ("discord", the default), other
    limits (a ``RateLimits``), or none ("off").
    ``recommended_shards``: the shard count ``GET /gateway/bot`` recommends; ``required_shards``:
    the fewest shards an IDENTIFY may name (fewer: closed with 4011; 0: no minimum). Both can be
    changed on ``gateway`` of a running fake.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        populate_default: bool = True,
        upload_limits: dict[int, int] | None = None,
        keep_upload_bytes: int = 256 * 1024,
        privileged_intents: int = 0,
        heartbeat_interval_ms: int = 41250,
        nonce_window_s: float = DEFAULT_NONCE_WINDOW_S,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: RateLimits | Literal["discord", "off"] = "discord",
        recommended_shards: int = 1,
        required_shards: int = 0,
    ) -> None:
        self.clock = clock or Clock()
        if rate_limits == "discord":
            rate_limits = RateLimits()
        self.rate_limits = None if rate_limits == "off" else rate_limits
        self.state = FakeState(
            self.clock,
            token=token,
            populate_default=populate_default,
            upload_limits=upload_limits,
            keep_upload_bytes=keep_upload_bytes,
            privileged_intents=privileged_intents,
            heartbeat_interval_ms=heartbeat_interval_ms,
            nonce_window_s=nonce_window_s,
        )
        self.gateway.recommended_shards = recommended_shards
        self.gateway.required_shards = required_shards
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        """Listen on loopback (a free port unless one was given)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        Rest(self.state).add_routes(app)
        Webhooks(self.state).add_routes(app)
        Control(self).add_routes(app)
        for prefix in ("", "/media"):
            app.router.add_get(
                prefix + "/attachments/{channel_id}/{attachment_id}/{filename}",
                self.state.cdn.handle,
            )
        app.router.add_get("/", self.state.gateway.handle)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.state.base_url = f"http://{self._host}:{self._port}"
        self.state.gateway_url = f"ws://{self._host}:{self._port}/"
        return self

    async def stop(self) -> None:
        """Close the gateway sockets and the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and identities -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.state.base_url

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return self.state.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be set to (also the resume URL)."""
        return self.state.gateway_url

    @property
    def token(self) -> str:
        """The only bot token the fake accepts."""
        return self.state.token

    @property
    def world(self) -> World:
        """Users, guilds, roles, channels and members."""
        return self.state.world

    @property
    def default(self) -> DefaultWorld:
        """Handles on the default guild (fails if the fake was built without it)."""
        if self.state.default is None:
            raise RuntimeError("FakeDiscord(populate_default=False) has no default world")
        return self.state.default

    @property
    def bot_user(self) -> User:
        """The bot's account."""
        return self.state.world.bot

    @property
    def gateway(self) -> Gateway:
        """The websocket side: sessions, identifies, resumes, dispatched events."""
        return self.state.gateway

    # -- the world, live ----------------------------------------------------------------------

    def add_member(
        self, name: str, *, guild: Guild | None = None, roles: tuple[Role, ...] = ()
    ) -> Member:
        """A new member (and user) in a guild (default: the default guild)."""
        return self.world.add_member(guild or self.default.guild, name, roles=roles)

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> Guild:
        """A new guild with #general and the bot in it, announced with GUILD_CREATE (the bot
        joins it); ``shard=(i, n)``: its ID puts it on shard ``i`` of ``n``."""
        guild = self.world.add_guild(name, shard=shard)
        self.dispatch("GUILD_CREATE", guild.payload())
        return guild

    def add_role(self, name: str, permissions: int = 0, *, guild: Guild | None = None) -> Role:
        """A new role, announced to the bot with GUILD_ROLE_CREATE."""
        guild = guild or self.default.guild
        role = self.world.add_role(guild, name, permissions)
        self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def add_channel(self, name: str, *, guild: Guild | None = None) -> Channel:
        """A new text channel, announced with CHANNEL_CREATE."""
        channel = self.world.add_channel(guild or self.default.guild, name)
        self.dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def add_forum(self, name: str, *, guild: Guild | None = None) -> Channel:
        """A new forum channel (its posts are threads), announced with CHANNEL_CREATE."""
        channel = self.world.add_channel(
            guild or self.default.guild, name, channel_type=GUILD_FORUM
        )
        self.dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def member(self, who: Member | int, *, channel: Channel | None = None) -> MemberDriver:
        """Drive a member (by object or user ID in the default guild), in #general by default."""
        if isinstance(who, int):
            found = self.default.guild.members.get(who)
            if found is None:
                raise KeyError(f"user {who} is not a member of the default guild")
            who = found
        guild = self.world.guilds[who.guild_id]
        if channel is None:
            channel = next(c for c in guild.channels.values() if c.type == 0)
        return MemberDriver(self.state, who, channel)

    # -- what happened ------------------------------------------------------------------------

    def channel_messages(
        self, channel: Channel | int, *, include_deleted: bool = False
    ) -> list[Message]:
        """Messages everyone in the channel sees, oldest first (ephemeral ones excluded)."""
        channel_id = channel if isinstance(channel, int) else channel.id
        return [
            m
            for m in self.state.messages.values()
            if m.channel_id == channel_id
            and not m.is_ephemeral
            and (include_deleted or not m.deleted)
        ]

    def dm_messages(self, who: Member | User) -> list[Message]:
        """What the bot sent someone in private, oldest first."""
        return self.state.dm_messages(who.id)

    def close_dms(self, who: Member | User) -> None:
        """The member takes no direct messages from the server's members (the bot included)."""
        self.state.closed_dms.add(who.id)

    def message(self, message_id: int) -> Message:
        """Any message by ID (including ephemeral and deleted ones)."""
        return self.state.messages[message_id]

    def requests(self, method: str | None = None, route: str | None = None) -> list[RequestRecord]:
        """Recorded REST requests, optionally filtered (route relative to the API base)."""
        return [
            r
            for r in self.state.requests
            if method in (None, r.method) and route in (None, r.route)
        ]

    def registered_commands(self, guild: Guild | None = None) -> dict[str, dict[str, object]]:
        """Commands the bot synced (global, or for one guild)."""
        return dict(self.state.commands.scope(None if guild is None else guild.id))

    # -- gateway ------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, object]) -> None:
        """Send any gateway event to the bot (filtered by its intents)."""
        self.gateway.dispatch(event, data)

    async def disconnect_gateway(
        self,
        *,
        resumable: bool = True,
        how: Literal["close", "reconnect"] = "close",
        hold: bool = False,
    ) -> None:
        """Drop the bot's websocket (see ``Gateway.disconnect``)."""
        await self.gateway.disconnect(resumable=resumable, how=how, hold=hold)

    def release_gateway(self) -> None:
        """Let a held reconnect proceed."""
        self.gateway.release()

    # -- HTTP plumbing ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/") or request.path == "/":
            return await handler(request)
        resource = request.match_info.route.resource
        route = "<unmatched>" if resource is None else resource.canonical.removeprefix(API_PREFIX)
        code: int | None = None
        verdict = self._count(request, route)
        try:
            if verdict is not None and not verdict.allowed:
                response: web.StreamResponse = await self._rate_limited(request, verdict)
            else:
                response = await self._answer(request, route, handler)
        except DiscordError as error:
            response, code = error_response(error), error.code
        except web.HTTPException as exc:
            # Unknown routes and methods: Discord answers JSON, and tests should notice.
            response = json_response(
                {"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status
            )
            code = 0
        if verdict is not None:
            response.headers.update(verdict.headers)
        auth = request.headers.get("Authorization", "")
        self.state.requests.append(
            RequestRecord(
                method=request.method,
                route=route,
                path=request.path,
                query=request.query_string,
                status=DROPPED if request.get(_DROPPED_KEY) else response.status,
                code=code,
                at=self.clock.now(),
                auth=f"{auth[:8]}…" if auth else "",
                payload=request.get(PAYLOAD_KEY),
            )
        )
        return response

    async def _answer(
        self, request: web.Request, route: str, handler: Handler
    ) -> web.StreamResponse:
        needs_bot_token = request.path.startswith(API_PREFIX) and not route.startswith(
            _TOKEN_ROUTES
        )
        if needs_bot_token and request.headers.get("Authorization") != f"Bot {self.state.token}":
            raise DiscordError(401, 0)
        channel_id = request.match_info.get("channel_id")
        for injection in self.state.injections:
            if injection.matches(request.method, route, channel_id):
                injection.remaining -= 1
                injection.hits.append(request.path)
                if injection.stall is not None:
                    await injection.stall.wait()
                    break  # then answered as usual
                # Drain the body so the client sees our answer, not a reset connection.
                async for _ in request.content.iter_chunked(64 * 1024):
                    pass
                if injection.status == DROPPED and request.transport is not None:
                    request[_DROPPED_KEY] = True
                    request.transport.close()
                    return web.Response(status=204)  # never sent: the transport is gone
                if injection.status == 429:
                    return too_many_requests(
                        injection.retry_after_s,
                        is_global=injection.is_global,
                        scope=injection.scope,
                    )
                raise DiscordError(injection.status, injection.code)
        return await handler(request)

    def _count(self, request: web.Request, route: str) -> Verdict | None:
        """Count an API request against its bucket (None: no bucket, or no limits)."""
        if self.rate_limits is None or not request.path.startswith(API_PREFIX):
            return None
        return self.rate_limits.check(request.method, route, dict(request.match_info))

    @staticmethod
    async def _rate_limited(request: web.Request, verdict: Verdict) -> web.Response:
        async for _ in request.content.iter_chunked(64 * 1024):
            pass  # drained, so the client reads the 429 rather than a reset connection
        return too_many_requests(
            verdict.retry_after_s,
            is_global=verdict.is_global,
            scope="global" if verdict.is_global else "user",
        )

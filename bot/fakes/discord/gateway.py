"""The fake gateway: HELLO/IDENTIFY/heartbeats/READY, intents, sequence numbers and RESUME.

Every dispatch gets the next ``s`` of its session and goes into a replay buffer, so a RESUME
replays what the client missed (including events dispatched while it was disconnected), then
sends RESUMED, as Discord does. Each session is one shard (``shards.py``): a guild's events go
only to the session of the guild's shard, and an IDENTIFY for a shard Discord would refuse is
closed with 4010 or 4011. Frames are TEXT JSON only: discord.py decompresses only binary
frames, so ``compress`` in the query string and IDENTIFY can be ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from bot.fakes.discord.intents import PRIVILEGED_INTENTS, needed_intent
from bot.fakes.discord.models import JSON
from bot.fakes.discord.shards import (
    CLOSE_REASONS,
    UNSHARDED,
    Shard,
    event_guild_id,
    refusal,
    requested_shard,
)

REPLAY_BUFFER_SIZE = 5000
CLOSE_RESUMABLE = 4000  # "unknown error": discord.py reconnects and RESUMEs
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_SESSION_TIMED_OUT = 4009
CLOSE_DISALLOWED_INTENTS = 4014


@dataclass
class GatewayWorld:
    """What the gateway needs to know about the rest of the fake."""

    token: Callable[[], str]
    url: Callable[[], str]
    ready_user: Callable[[], JSON]
    application_id: Callable[[], int]
    guilds: Callable[[], list[JSON]]
    members: Callable[[int], list[JSON]]


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str | int] = field(default_factory=asyncio.Queue)
    shard: Shard | None = None  # what its IDENTIFY asked for

    def send(self, frame: JSON) -> None:
        self.outbox.put_nowait(json.dumps(frame, ensure_ascii=False))

    def close(self, code: int) -> None:
        # An int in the outbox means "close with this code" once earlier frames are out.
        self.outbox.put_nowait(code)


@dataclass
class GatewaySession:
    """An identified session: its intents, sequence and replay buffer."""

    session_id: str
    intents: int
    seq: int = 0
    buffer: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER_SIZE))
    connection: _Connection | None = None
    is_valid: bool = True
    shard: Shard = UNSHARDED

    @property
    def is_live(self) -> bool:
        """Valid, with a connection."""
        return self.is_valid and self.connection is not None

    def wants(self, event: str) -> bool:
        """Whether the session's intents cover the event."""
        needed = needed_intent(event)
        return needed == 0 or bool(self.intents & needed)


@dataclass(frozen=True)
class DispatchedEvent:
    """One event the fake sent (or buffered) for a session."""

    session_id: str
    seq: int
    name: str
    data: JSON
    shard_id: int = 0  # the shard of the session it went to


@dataclass(frozen=True)
class GatewayClose:
    """A connection the fake closed with a close code (and the shard its IDENTIFY asked for)."""

    code: int
    shard: Shard | None


class Gateway:
    """Accepts discord.py's websocket and dispatches events to identified sessions."""

    def __init__(
        self,
        world: GatewayWorld,
        *,
        heartbeat_interval_ms: int = 41250,
        privileged_intents: int = 0,
        recommended_shards: int = 1,
        required_shards: int = 0,
    ) -> None:
        self._world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
        self.recommended_shards = recommended_shards  # GET /gateway/bot's "shards"
        self.required_shards = required_shards  # fewer: closed with 4011 (0: no minimum)
        self.closes: list[GatewayClose] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.identifies: list[JSON] = []
        self.resumes: list[JSON] = []
        self.events: list[DispatchedEvent] = []
        self.heartbeats = 0
        self.presence_updates: list[JSON] = []
        self._open = asyncio.Event()
        self._open.set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._is_closing = False
        self._changed = asyncio.Condition()

    @property
    def intents(self) -> int | None:
        """Intents of the latest IDENTIFY (None before any)."""
        return self.identifies[-1].get("intents") if self.identifies else None

    @property
    def is_connected(self) -> bool:
        """Whether some valid session has a live connection."""
        return any(s.is_live for s in self.sessions.values())

    @property
    def live_shards(self) -> set[Shard]:
        """The shards of the valid sessions with a live connection."""
        return {s.shard for s in self.sessions.values() if s.is_live}

    def serves(self, guild_id: int | None) -> bool:
        """Whether some valid session (connected or resumable) gets the guild's events."""
        return any(s.is_valid and s.shard.serves(guild_id) for s in self.sessions.values())

    def dispatch(self, event: str, data: JSON) -> None:
        """Send an event to every session whose intents cover it and whose shard gets the
        event's guild (buffered while disconnected)."""
        guild_id = event_guild_id(event, data)
        for session in list(self.sessions.values()):
            if session.is_valid and session.wants(event) and session.shard.serves(guild_id):
                self._send(session, event, data)

    def _send(self, session: GatewaySession, event: str, data: JSON) -> None:
        session.seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data}, ensure_ascii=False)
        session.buffer.append((session.seq, frame))
        self.events.append(
            DispatchedEvent(session.session_id, session.seq, event, data, session.shard.id)
        )
        if session.connection is not None:
            session.connection.outbox.put_nowait(frame)

    async def disconnect(
        self,
        *,
        resumable: bool = True,
        how: Literal["close", "reconnect"] = "close",
        hold: bool = False,
        shard_id: int | None = None,
    ) -> None:
        """Drop the bot's connections (``shard_id``: only that shard's): ``how`` is "close"
        (socket close) or "reconnect" (op 7).

        ``resumable=False`` invalidates the session (op 9 false), so the client re-IDENTIFYs.
        ``hold=True`` keeps new connections waiting for HELLO until ``release()``.
        """
        if hold:
            self._open.clear()
        for session in list(self.sessions.values()):
            connection = session.connection
            if connection is None or shard_id not in (None, session.shard.id):
                continue
            if not resumable:
                session.is_valid = False
                connection.send({"op": 9, "d": False, "s": None, "t": None})
            elif how == "reconnect":
                connection.send({"op": 7, "d": None, "s": None, "t": None})
            else:
                self._close(connection, CLOSE_RESUMABLE)
            session.connection = None
        await self._notify()

    def release(self) -> None:
        """Let held connections proceed (see ``disconnect(hold=True)``)."""
        self._open.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds after some gateway change (identify, resume …)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket endpoint (any query string is accepted)."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await self._open.wait()
            if not self._is_closing:
                await self._serve(ws)
        finally:
            self._sockets.discard(ws)
        return ws

    async def close_all(self) -> None:
        """Close every socket (server shutdown); held connections are let go, then closed."""
        self._is_closing = True
        self._open.set()
        for ws in list(self._sockets):
            await ws.close(code=1001)

    async def _serve(self, ws: web.WebSocketResponse) -> None:
        connection = _Connection(ws)
        writer = asyncio.create_task(self._write(connection))
        connection.send(
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        session: GatewaySession | None = None
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    break
                session = await self._on_frame(connection, session, json.loads(message.data))
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if session is not None and session.connection is connection:
                session.connection = None
            await self._notify()

    async def _write(self, connection: _Connection) -> None:
        while True:
            item = await connection.outbox.get()
            if isinstance(item, int):
                await connection.ws.close(code=item, message=CLOSE_REASONS.get(item, "").encode())
                return
            if connection.ws.closed:
                return
            await connection.ws.send_str(item)

    async def _on_frame(
        self, connection: _Connection, session: GatewaySession | None, frame: JSON
    ) -> GatewaySession | None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == 1:
            self.heartbeats += 1
            connection.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if session is not None:
                self._close(connection, CLOSE_ALREADY_AUTHENTICATED)
                return session
            session = self._identify(connection, data)
        elif op == 6:
            session = self._resume(connection, data)
        elif session is None:
            self._close(connection, CLOSE_NOT_AUTHENTICATED)
        elif op == 3:
            self.presence_updates.append(data)
        elif op == 8:
            self._members_chunk(session, data)
        await self._notify()
        return session

    def _identify(self, connection: _Connection, data: JSON) -> GatewaySession | None:
        self.identifies.append({**data, "token": _redact(str(data.get("token", "")))})
        connection.shard = shard = requested_shard(data)
        if data.get("token") != self._world.token():
            self._close(connection, CLOSE_AUTHENTICATION_FAILED)
            return None
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            self._close(connection, CLOSE_DISALLOWED_INTENTS)
            return None
        live_counts = {s.shard.count for s in self.sessions.values() if s.is_live}
        refused = refusal(shard, live_counts, self.required_shards)
        if refused is not None:
            self._close(connection, refused)
            return None
        session = GatewaySession(secrets.token_hex(16), intents, shard=shard)
        # A new IDENTIFY replaces the shard's older session (one bot token has one session per
        # shard), and every session of another shard count.
        for old in self.sessions.values():
            if old.shard.id == shard.id or old.shard.count != shard.count:
                old.is_valid = False
        self.sessions = {i: s for i, s in self.sessions.items() if s.is_valid}
        self.sessions[session.session_id] = session
        session.connection = connection
        guilds = [g for g in self._world.guilds() if shard.serves(int(g["id"]))]
        ready: JSON = {
            "v": 10,
            "user": self._world.ready_user(),
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._world.url(),
            "application": {"id": str(self._world.application_id()), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        if data.get("shard") is not None:
            ready["shard"] = shard.payload()
        self._send(session, "READY", ready)
        for guild in guilds:
            self._send(session, "GUILD_CREATE", guild)
        return session

    def _resume(self, connection: _Connection, data: JSON) -> GatewaySession | None:
        self.resumes.append({**data, "token": _redact(str(data.get("token", "")))})
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self._world.token():
            self._close(connection, CLOSE_AUTHENTICATION_FAILED)
            return None
        if session is None or not session.is_valid:
            connection.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        last_seen = int(data.get("seq") or 0)
        if session.buffer and session.buffer[0][0] > last_seen + 1:
            # The client missed more than the buffer holds: Discord makes it re-identify.
            session.is_valid = False
            connection.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        session.connection = connection
        connection.shard = session.shard
        for seq, frame in session.buffer:
            if seq > last_seen:
                connection.outbox.put_nowait(frame)
        self._send(session, "RESUMED", {"_trace": ["fake-discord"]})
        return session

    def _members_chunk(self, session: GatewaySession, data: JSON) -> None:
        guild_id = int(data.get("guild_id", 0))
        members = self._world.members(guild_id)
        user_ids = data.get("user_ids")
        if user_ids:
            wanted = {str(u) for u in user_ids}
            members = [m for m in members if m["user"]["id"] in wanted]
        chunk = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "presences": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if session.connection is not None:
            self._send(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _close(self, connection: _Connection, code: int) -> None:
        self.closes.append(GatewayClose(code, connection.shard))
        connection.close(code)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _redact(token: str) -> str:
    """Never keep a token whole: its first 4 characters are enough to tell tokens apart."""
    return f"{token[:4]}…" if token else ""

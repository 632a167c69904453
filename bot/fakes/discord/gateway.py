"""The fake gateway: HELLO/IDENTIFY/heartbeats/READY, intents, sequence numbers and RESUME.

Every dispatch gets the next ``s`` of its session and goes into a replay buffer, so a RESUME
replays what the client missed (including events dispatched while it was disconnected), then
sends RESUMED, as Discord does. Frames are TEXT JSON only: discord.py decompresses only binary
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

from bot.fakes.discord.models import JSON

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# The intent an event needs; events not listed (READY, RESUMED, INTERACTION_CREATE) need none.
EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": INTENT_GUILDS,
    "GUILD_UPDATE": INTENT_GUILDS,
    "GUILD_ROLE_CREATE": INTENT_GUILDS,
    "GUILD_ROLE_UPDATE": INTENT_GUILDS,
    "CHANNEL_CREATE": INTENT_GUILDS,
    "CHANNEL_UPDATE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
    "THREAD_UPDATE": INTENT_GUILDS,
    "GUILD_MEMBER_ADD": INTENT_GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": INTENT_GUILD_MEMBERS,
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": INTENT_GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": INTENT_GUILD_MESSAGE_REACTIONS,
}
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

    def wants(self, event: str) -> bool:
        """Whether the session's intents cover the event."""
        needed = EVENT_INTENTS.get(event, 0)
        return needed == 0 or bool(self.intents & needed)


@dataclass(frozen=True)
class DispatchedEvent:
    """One event the fake sent (or buffered) for a session."""

    session_id: str
    seq: int
    name: str
    data: JSON


class Gateway:
    """Accepts discord.py's websocket and dispatches events to identified sessions."""

    def __init__(
        self,
        world: GatewayWorld,
        *,
        heartbeat_interval_ms: int = 41250,
        privileged_intents: int = 0,
    ) -> None:
        self._world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
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
        return any(s.connection and s.is_valid for s in self.sessions.values())

    def dispatch(self, event: str, data: JSON) -> None:
        """Send an event to every session whose intents cover it (buffered while disconnected)."""
        for session in list(self.sessions.values()):
            if not session.is_valid or not session.wants(event):
                continue
            session.seq += 1
            frame = json.dumps(
                {"op": 0, "t": event, "s": session.seq, "d": data}, ensure_ascii=False
            )
            session.buffer.append((session.seq, frame))
            self.events.append(DispatchedEvent(session.session_id, session.seq, event, data))
            if session.connection is not None:
                session.connection.outbox.put_nowait(frame)

    async def disconnect(
        self,
        *,
        resumable: bool = True,
        how: Literal["close", "reconnect"] = "close",
        hold: bool = False,
    ) -> None:
        """Drop the bot's connection: ``how`` is "close" (socket close) or "reconnect" (op 7).

        ``resumable=False`` invalidates the session (op 9 false), so the client re-IDENTIFYs.
        ``hold=True`` keeps new connections waiting for HELLO until ``release()``.
        """
        if hold:
            self._open.clear()
        for session in list(self.sessions.values()):
            connection = session.connection
            if connection is None:
                continue
            if not resumable:
                session.is_valid = False
                connection.send({"op": 9, "d": False, "s": None, "t": None})
            elif how == "reconnect":
                connection.send({"op": 7, "d": None, "s": None, "t": None})
            else:
                connection.close(CLOSE_RESUMABLE)
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
                await connection.ws.close(code=item)
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
                connection.close(CLOSE_ALREADY_AUTHENTICATED)
                return session
            session = self._identify(connection, data)
        elif op == 6:
            session = self._resume(connection, data)
        elif session is None:
            connection.close(CLOSE_NOT_AUTHENTICATED)
        elif op == 3:
            self.presence_updates.append(data)
        elif op == 8:
            self._members_chunk(session, data)
        await self._notify()
        return session

    def _identify(self, connection: _Connection, data: JSON) -> GatewaySession | None:
        self.identifies.append({**data, "token": _redact(str(data.get("token", "")))})
        if data.get("token") != self._world.token():
            connection.close(CLOSE_AUTHENTICATION_FAILED)
            return None
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            connection.close(CLOSE_DISALLOWED_INTENTS)
            return None
        session = GatewaySession(session_id=secrets.token_hex(16), intents=intents)
        # A new IDENTIFY replaces older sessions, as one bot token has one session per shard.
        for old in self.sessions.values():
            old.is_valid = False
        self.sessions = {session.session_id: session}
        session.connection = connection
        guilds = self._world.guilds()
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
            ready["shard"] = data["shard"]
        self.dispatch("READY", ready)
        for guild in guilds:
            self.dispatch("GUILD_CREATE", guild)
        return session

    def _resume(self, connection: _Connection, data: JSON) -> GatewaySession | None:
        self.resumes.append({**data, "token": _redact(str(data.get("token", "")))})
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self._world.token():
            connection.close(CLOSE_AUTHENTICATION_FAILED)
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
        for seq, frame in session.buffer:
            if seq > last_seen:
                connection.outbox.put_nowait(frame)
        self.dispatch("RESUMED", {"_trace": ["fake-discord"]})
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
            session.seq += 1
            frame = {"op": 0, "t": "GUILD_MEMBERS_CHUNK", "s": session.seq, "d": chunk}
            session.buffer.append((session.seq, json.dumps(frame)))
            session.connection.send(frame)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _redact(token: str) -> str:
    """Never keep a token whole: its first 4 characters are enough to tell tokens apart."""
    return f"{token[:4]}…" if token else ""

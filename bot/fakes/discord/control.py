"""HTTP control endpoints under ``/_fake/``: drive the fake when the bot runs as a subprocess.

The fake itself still runs in the test process; these let a shell script or another process
run commands, react, and read what a member would see.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.fakes.discord.commands import DriverError
from bot.fakes.discord.interaction_handle import InteractionHandle
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.wire import json_response

if TYPE_CHECKING:
    from bot.fakes.discord.server import FakeDiscord


class Control:
    """JSON endpoints mirroring the Python API of FakeDiscord and the member driver."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def add_routes(self, app: web.Application) -> None:
        """Register ``/_fake/...``."""
        router = app.router
        router.add_get("/_fake/state", self.world)
        router.add_post("/_fake/run", self.run)
        router.add_get("/_fake/interactions/{interaction_id}", self.interaction)
        router.add_post("/_fake/interactions/{interaction_id}/wait", self.wait)
        router.add_post("/_fake/react", self.react)
        router.add_post("/_fake/click", self.click)
        router.add_post("/_fake/interactions/{interaction_id}/modal", self.submit_modal)
        router.add_get("/_fake/channels/{channel_id}/messages", self.messages)
        router.add_get("/_fake/requests", self.requests)
        router.add_post("/_fake/inject", self.inject)
        router.add_post("/_fake/gateway/disconnect", self.disconnect)
        router.add_post("/_fake/gateway/release", self.release)
        router.add_post("/_fake/clock/advance", self.advance)

    async def world(self, request: web.Request) -> web.Response:
        """URLs, the bot, and every guild with its channels, roles and members."""
        fake = self.fake
        guilds = [
            {
                "id": str(g.id),
                "name": g.name,
                "premium_tier": g.premium_tier,
                "channels": {c.name: str(c.id) for c in g.channels.values()},
                "roles": {r.name: str(r.id) for r in g.roles.values()},
                "members": {m.user.username: str(m.id) for m in g.members.values()},
            }
            for g in fake.world.guilds.values()
        ]
        return json_response(
            {
                "api_base": fake.api_base,
                "gateway_url": fake.gateway_url,
                "bot_user_id": str(fake.bot_user.id),
                "application_id": str(fake.world.app_id),
                "connected": fake.gateway.is_connected,
                "guilds": guilds,
            }
        )

    async def run(self, request: web.Request) -> web.Response:
        """``{"user_id", "command", "path"?, "options"?, "channel_id"?, "backdate_s"?}``.

        Attachment options take ``{"filename", "data_b64"}`` or ``{"path"}``; user, role and
        channel options take IDs.
        """
        body = await request.json()
        driver = self.fake.member(int(body["user_id"]))
        if body.get("channel_id"):
            found = self.fake.world.guild_of_channel(int(body["channel_id"]))
            if found is None:
                return json_response({"error": "unknown channel"}, status=404)
            driver = driver.in_channel(found[1])
        options = {k: _option_value(v) for k, v in (body.get("options") or {}).items()}
        try:
            handle = await driver.run(
                body["command"],
                *body.get("path", []),
                backdate_s=float(body.get("backdate_s", 0)),
                ignore_default_permissions=bool(body.get("ignore_default_permissions")),
                **options,
            )
        except DriverError as error:
            return json_response({"error": str(error)}, status=400)
        return json_response(_describe(handle))

    async def interaction(self, request: web.Request) -> web.Response:
        """Ack, messages and errors of one interaction."""
        handle = self._handle(request)
        return json_response(_describe(handle))

    async def wait(self, request: web.Request) -> web.Response:
        """``?for=ack|response&timeout_s=5``: wait, then describe (408 on timeout)."""
        handle = self._handle(request)
        query = request.rel_url.query
        timeout_s = float(query.get("timeout_s", "5"))
        try:
            if query.get("for", "response") == "ack":
                await handle.wait_ack(timeout_s)
            else:
                await handle.wait_response(timeout_s)
        except AssertionError as error:
            return json_response({"error": str(error), **_describe(handle)}, status=408)
        return json_response(_describe(handle))

    async def react(self, request: web.Request) -> web.Response:
        """``{"user_id", "message_id", "emoji"}``."""
        body = await request.json()
        try:
            await self.fake.member(int(body["user_id"])).react(
                int(body["message_id"]), body["emoji"]
            )
        except DriverError as error:
            return json_response({"error": str(error)}, status=400)
        return web.Response(status=204)

    async def click(self, request: web.Request) -> web.Response:
        """``{"user_id", "message_id", "custom_id"}``: click a button; describes the interaction."""
        body = await request.json()
        try:
            handle = await self.fake.member(int(body["user_id"])).click(
                int(body["message_id"]), str(body["custom_id"])
            )
        except DriverError as error:
            return json_response({"error": str(error)}, status=400)
        return json_response(_describe(handle))

    async def submit_modal(self, request: web.Request) -> web.Response:
        """``{"values": {custom_id: text}}``: submit the modal the bot opened."""
        handle = self._handle(request)
        body = await request.json()
        try:
            submitted = await handle.submit_modal(
                {str(k): str(v) for k, v in (body.get("values") or {}).items()}
            )
        except DriverError as error:
            return json_response({"error": str(error)}, status=400)
        return json_response(_describe(submitted))

    async def messages(self, request: web.Request) -> web.Response:
        """What everyone in the channel sees."""
        channel_id = int(request.match_info["channel_id"])
        return json_response([m.summary() for m in self.fake.channel_messages(channel_id)])

    async def requests(self, request: web.Request) -> web.Response:
        """The REST request log (``?method=&route=`` filters)."""
        query = request.rel_url.query
        records = self.fake.requests(query.get("method"), query.get("route"))
        return json_response(
            [
                {
                    "method": r.method,
                    "route": r.route,
                    "path": r.path,
                    "status": r.status,
                    "code": r.code,
                    "at": r.at,
                }
                for r in records
            ]
        )

    async def inject(self, request: web.Request) -> web.Response:
        """``{"status": 429|..., "route"?, "method"?, "times"?, "retry_after_s"?, "code"?}``.

        Status 0 drops the connection without an answer.
        """
        body: dict[str, Any] = await request.json()
        status = int(body.get("status", 429))
        route, method, times = body.get("route"), body.get("method"), int(body.get("times", 1))
        if status == 429:
            self.fake.inject_429(
                route,
                method=method,
                times=times,
                retry_after_s=float(body.get("retry_after_s", 0.05)),
                is_global=bool(body.get("global")),
            )
        else:
            self.fake.inject_error(
                route, status=status, code=int(body.get("code", 0)), method=method, times=times
            )
        return web.Response(status=204)

    async def disconnect(self, request: web.Request) -> web.Response:
        """``{"resumable"?: true, "how"?: "close"|"reconnect", "hold"?: false}``."""
        body = await request.json() if request.can_read_body else {}
        await self.fake.disconnect_gateway(
            resumable=bool(body.get("resumable", True)),
            how="reconnect" if body.get("how") == "reconnect" else "close",
            hold=bool(body.get("hold", False)),
        )
        return web.Response(status=204)

    async def release(self, request: web.Request) -> web.Response:
        """Let a held gateway reconnect proceed."""
        self.fake.release_gateway()
        return web.Response(status=204)

    async def advance(self, request: web.Request) -> web.Response:
        """``{"seconds": n}``: move the fake clock forward."""
        body = await request.json()
        self.fake.clock.advance(float(body["seconds"]))
        return web.Response(status=204)

    def _handle(self, request: web.Request) -> InteractionHandle:
        record = self.fake.state.interactions.get(int(request.match_info["interaction_id"]))
        if record is None:
            raise web.HTTPNotFound(text="unknown interaction")
        return InteractionHandle(self.fake.state, record)


def _option_value(value: Any) -> Any:
    if isinstance(value, dict) and "filename" in value and "data_b64" in value:
        return Attachment(filename=value["filename"], data=base64.b64decode(value["data_b64"]))
    if isinstance(value, dict) and "path" in value:
        return Attachment.from_path(Path(value["path"]))
    return value


def _describe(handle: InteractionHandle) -> dict[str, Any]:
    ack = handle.ack
    return {
        "interaction_id": str(handle.id),
        "ack": None
        if ack is None
        else {"type": ack.type, "latency_s": ack.latency_s, "ephemeral": ack.ephemeral},
        "messages": [m.summary() for m in handle.messages],
        "errors": [
            {"status": e.status, "code": e.code, "message": e.message} for e in handle.errors
        ],
        "modal": handle.modal,
    }

"""REST routes used with the bot token: login, commands, channels, messages, reactions."""

from __future__ import annotations

from aiohttp import web

from bot.fakes.discord.bodies import Body, message_nonce, read_body, validate_message
from bot.fakes.discord.history import parse_history_query, select_history
from bot.fakes.discord.models import GUILD_FORUM, Channel, Guild
from bot.fakes.discord.permissions import Perm
from bot.fakes.discord.state import DM_UPLOAD_LIMIT, FakeState
from bot.fakes.discord.wire import PAYLOAD_KEY, DiscordError, invalid_form, json_response

API_PREFIX = "/api/v10"
SESSION_STARTS_A_DAY = 1000  # IDENTIFYs a day: what Discord gives a bot unless it asks for more


def snowflake_param(request: web.Request, key: str) -> int:
    """A snowflake path parameter, or 400/50035 like Discord's "Value is not snowflake"."""
    value = request.match_info[key]
    if not value.isdigit():
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value {value!r} is not snowflake.")
    return int(value)


def _check_emoji(emoji: str) -> None:
    # The fake knows no custom emoji, and a plain ASCII word is not a unicode emoji.
    if ":" in emoji or not emoji or emoji.isascii():
        raise DiscordError(400, 10014)


class Rest:
    """Handlers for the REST routes the bot calls with its bot token."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def add_routes(self, app: web.Application) -> None:
        """Register every route under ``/api/v10``."""
        routes = [
            ("GET", "/users/@me", self.me),
            ("GET", "/users/{user_id}", self.user),
            ("POST", "/users/@me/channels", self.open_dm),
            ("GET", "/oauth2/applications/@me", self.application),
            ("GET", "/applications/@me", self.application),
            ("GET", "/gateway", self.gateway),
            ("GET", "/gateway/bot", self.gateway_bot),
            ("GET", "/applications/{app_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/commands", self.put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            ("GET", "/guilds/{guild_id}", self.guild),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.guild_roles),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.guild_member),
            ("GET", "/channels/{channel_id}", self.channel),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/channels/{channel_id}/messages", self.history),
            ("POST", "/channels/{channel_id}/messages", self.send),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
             self.add_reaction),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user}",
             self.remove_reaction),
        ]  # fmt: skip
        for method, path, handler in routes:
            app.router.add_route(method, API_PREFIX + path, handler)

    # -- login and gateway --------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        """The bot's user (login)."""
        return json_response(self.state.world.bot.payload())

    async def user(self, request: web.Request) -> web.Response:
        """Any known user, or 404/10013."""
        user = self.state.world.users.get(snowflake_param(request, "user_id"))
        if user is None:
            raise DiscordError(404, 10013)
        return json_response(user.payload())

    async def application(self, request: web.Request) -> web.Response:
        """AppInfo, with every key discord.py requires (no interactions endpoint URL)."""
        world = self.state.world
        return json_response(
            {
                "id": str(world.app_id),
                "name": world.bot.username,
                "description": "Kling Omni Bot (fake Discord)",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": world.app_owner.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "bot": world.bot.payload(),
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": len(world.guilds),
            }
        )

    async def open_dm(self, request: web.Request) -> web.Response:
        """``POST /users/@me/channels``: the bot's DM channel with a user."""
        payload = (await self._body(request, 0)).payload
        recipient = str(payload.get("recipient_id") or "")
        if not recipient.isdigit():
            raise invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        return json_response(self.state.dm_payload(self.state.open_dm(int(recipient))))

    async def gateway(self, request: web.Request) -> web.Response:
        """``GET /gateway``: the loopback websocket URL."""
        return json_response({"url": self.state.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        """``GET /gateway/bot`` (AutoSharded clients): the recommended shard count, and the
        day's session starts (1000, one used by each IDENTIFY) as Discord counts them."""
        gateway = self.state.gateway
        limit = {
            "total": SESSION_STARTS_A_DAY,
            "remaining": max(0, SESSION_STARTS_A_DAY - len(gateway.identifies)),
            "reset_after": 24 * 60 * 60 * 1000,
            "max_concurrency": 1,
        }
        return json_response(
            {
                "url": self.state.gateway_url,
                "shards": gateway.recommended_shards,
                "session_start_limit": limit,
            }
        )

    # -- application commands -----------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if snowflake_param(request, "app_id") != self.state.world.app_id:
            raise DiscordError(403, 50001)
        if "guild_id" not in request.match_info:
            return None
        guild = self._guild(request)
        self.state.bot_member(guild)
        return guild.id

    async def get_commands(self, request: web.Request) -> web.Response:
        """The registered commands of a scope."""
        scope = self._command_scope(request)
        return json_response(list(self.state.commands.scope(scope).values()))

    async def put_commands(self, request: web.Request) -> web.Response:
        """Bulk overwrite (what ``tree.sync()`` does), validated and echoed with IDs."""
        scope = self._command_scope(request)
        commands = await request.json()
        request[PAYLOAD_KEY] = commands
        return json_response(self.state.commands.overwrite(scope, commands))

    # -- guilds and channels ------------------------------------------------------------------

    def _guild(self, request: web.Request) -> Guild:
        guild = self.state.world.guilds.get(snowflake_param(request, "guild_id"))
        if guild is None:
            raise DiscordError(404, 10004)
        return guild

    async def guild(self, request: web.Request) -> web.Response:
        """A guild the bot is in."""
        guild = self._guild(request)
        self.state.bot_member(guild)
        return json_response(guild.update_payload())

    async def guild_channels(self, request: web.Request) -> web.Response:
        """Every channel of a guild."""
        guild = self._guild(request)
        self.state.bot_member(guild)
        return json_response([c.payload() for c in guild.channels.values()])

    async def guild_roles(self, request: web.Request) -> web.Response:
        """Every role of a guild."""
        guild = self._guild(request)
        self.state.bot_member(guild)
        return json_response([r.payload() for r in guild.roles.values()])

    async def guild_member(self, request: web.Request) -> web.Response:
        """One member (``guild.fetch_member``), or 404/10007."""
        guild = self._guild(request)
        self.state.bot_member(guild)
        member = guild.members.get(snowflake_param(request, "user_id"))
        if member is None:
            raise DiscordError(404, 10007)
        return json_response(member.payload())

    async def channel(self, request: web.Request) -> web.Response:
        """A channel the bot can see."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        self.state.require(guild, channel, Perm.VIEW_CHANNEL)
        return json_response(channel.payload())

    async def typing(self, request: web.Request) -> web.Response:
        """Typing indicator: needs Send Messages."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        self.state.require(guild, channel, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        return web.Response(status=204)

    # -- messages -----------------------------------------------------------------------------

    async def history(self, request: web.Request) -> web.Response:
        """Channel history, newest first, paged as Discord pages it (see ``history.py``).

        Without Read Message History Discord answers an empty list, not 403.
        """
        channel_id = snowflake_param(request, "channel_id")
        query = parse_history_query(request.rel_url.query)
        if channel_id in self.state.dm_channels:
            channel = self.state.dm_channels[channel_id]
        else:
            guild, channel = self.state.channel(channel_id)
            have = self.state.require(guild, channel, Perm.VIEW_CHANNEL)
            if not have & Perm.READ_MESSAGE_HISTORY:
                return json_response([])
        visible = [
            m
            for m in self.state.messages.values()
            if m.channel_id == channel.id and not m.deleted and not m.is_ephemeral
        ]
        page = select_history(visible, query)
        return json_response([self.state.message_payload(m) for m in page])

    async def send(self, request: web.Request) -> web.Response:
        """``channel.send``: per-file limit (413/40005), the bot's permissions (403), the body.

        With ``enforce_nonce``, a repeat of a nonce the bot used in this channel within the
        nonce window answers the earlier message (200) and creates nothing.
        """
        channel_id = snowflake_param(request, "channel_id")
        if channel_id in self.state.dm_channels:
            return await self._send_dm(request, self.state.dm_channels[channel_id])
        guild, channel = self.state.channel(channel_id)
        body = await self._body(request, self.state.upload_limit(guild))
        if channel.type == GUILD_FORUM:
            raise DiscordError(400, 50008)  # a forum takes posts (threads), not messages
        send = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        need = Perm.VIEW_CHANNEL | send
        if body.files:
            need |= Perm.ATTACH_FILES
        if body.payload.get("embeds"):
            need |= Perm.EMBED_LINKS
        if body.payload.get("message_reference"):
            need |= Perm.READ_MESSAGE_HISTORY
        have = self.state.require(guild, channel, need)
        validate_message(body.payload, file_count=len(body.files), require_content=True)
        self.state.reopen_for_post(channel, have)
        return self._post_once(guild, channel, body)

    async def _send_dm(self, request: web.Request, channel: Channel) -> web.Response:
        """A direct message: 403/50007 when the member takes none from the server's members."""
        body = await self._body(request, DM_UPLOAD_LIMIT)
        if self.state.dm_recipients[channel.id] in self.state.closed_dms:
            raise DiscordError(403, 50007)
        validate_message(body.payload, file_count=len(body.files), require_content=True)
        return self._post_once(None, channel, body)

    def _post_once(self, guild: Guild | None, channel: Channel, body: Body) -> web.Response:
        """Post as the bot; with an enforced nonce, a repeat answers with the first message."""
        nonce = message_nonce(body.payload)
        author = self.state.world.bot
        if nonce is not None and body.payload.get("enforce_nonce") is True:
            earlier = self.state.message_by_nonce(channel, author, nonce)
            if earlier is not None:
                return json_response(self.state.message_payload(earlier, with_nonce=True))
        message = self.state.post_message(guild, channel, author, body, validate=False, nonce=nonce)
        return json_response(self.state.message_payload(message, with_nonce=True))

    async def get_message(self, request: web.Request) -> web.Response:
        """One message; needs Read Message History."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        self.state.require(guild, channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        message = self.state.channel_message(channel, snowflake_param(request, "message_id"))
        return json_response(self.state.message_payload(message))

    async def edit_message(self, request: web.Request) -> web.Response:
        """Edit one of the bot's messages (403/50005 for anyone else's)."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        body = await self._body(request, self.state.upload_limit(guild))
        need = Perm.VIEW_CHANNEL | (Perm.ATTACH_FILES if body.files else 0)
        self.state.require(guild, channel, need)
        if channel.archived:
            raise DiscordError(400, 50083)  # an archived thread is read-only
        message = self.state.channel_message(channel, snowflake_param(request, "message_id"))
        if message.author.id != self.state.world.bot.id:
            raise DiscordError(403, 50005)
        self.state.edit_message(message, body)
        return json_response(self.state.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        """Delete a message: the bot's own, or anyone's with Manage Messages."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        message = self.state.channel_message(channel, snowflake_param(request, "message_id"))
        need = Perm.VIEW_CHANNEL
        if message.author.id != self.state.world.bot.id:
            need |= Perm.MANAGE_MESSAGES
        self.state.require(guild, channel, need)
        self.state.delete_message(message)
        return web.Response(status=204)

    # -- reactions ----------------------------------------------------------------------------

    async def add_reaction(self, request: web.Request) -> web.Response:
        """The bot reacts: Read Message History, plus Add Reactions for a new emoji."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        emoji = request.match_info["emoji"]
        self.state.require(guild, channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        message = self.state.channel_message(channel, snowflake_param(request, "message_id"))
        _check_emoji(emoji)
        if not message.reactions.get(emoji):
            self.state.require(guild, channel, Perm.ADD_REACTIONS)
        self.state.add_reaction(message, self.state.bot_member(guild), emoji)
        return web.Response(status=204)

    async def remove_reaction(self, request: web.Request) -> web.Response:
        """Remove the bot's reaction (``@me``) or, with Manage Messages, someone else's."""
        guild, channel = self.state.channel(snowflake_param(request, "channel_id"))
        emoji = request.match_info["emoji"]
        target = request.match_info["user"]
        need = Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY
        user_id = self.state.world.bot.id
        if target != "@me":
            user_id = snowflake_param(request, "user")
            need |= Perm.MANAGE_MESSAGES
        self.state.require(guild, channel, need)
        message = self.state.channel_message(channel, snowflake_param(request, "message_id"))
        _check_emoji(emoji)
        self.state.remove_reaction(message, user_id, emoji)
        return web.Response(status=204)

    async def _body(self, request: web.Request, per_file_limit: int) -> Body:
        body = await read_body(
            request, per_file_limit=per_file_limit, keep_bytes=self.state.keep_upload_bytes
        )
        request[PAYLOAD_KEY] = body.payload
        return body

"""The fake's state and the rules that change it: messages, reactions, permissions, events."""

from __future__ import annotations

import secrets
from typing import Any

from bot.fakes.discord.bodies import Body, validate_message
from bot.fakes.discord.cdn import Cdn
from bot.fakes.discord.commands import CommandRegistry, DriverError
from bot.fakes.discord.gateway import Gateway, GatewayWorld
from bot.fakes.discord.interactions import InteractionRecord, interaction_payload
from bot.fakes.discord.messages import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    Message,
    StoredFile,
    emoji_payload,
)
from bot.fakes.discord.models import DEFAULT_UPLOAD_LIMITS, JSON, Channel, Guild, Member, User
from bot.fakes.discord.permissions import Perm, channel_permissions, missing
from bot.fakes.discord.recording import Injection, RequestRecord
from bot.fakes.discord.snowflakes import Clock, SnowflakeMinter
from bot.fakes.discord.wire import DiscordError, invalid_form
from bot.fakes.discord.world import DefaultWorld, World

# Flags a bot may set on a message it sends (SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, V2).
_SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | (1 << 12) | (1 << 15)
# Discord checks an enforced nonce "in the past few minutes"; the exact span is undocumented.
DEFAULT_NONCE_WINDOW_S = 5 * 60.0
DM_CHANNEL = 1
DM_UPLOAD_LIMIT = 10 * 1024 * 1024  # a bot's uploads in a direct message: no server boosts


class FakeState:
    """Everything the fake knows, shared by the REST routes, the gateway and the drivers."""

    def __init__(
        self,
        clock: Clock,
        *,
        token: str,
        populate_default: bool = True,
        upload_limits: dict[int, int] | None = None,
        keep_upload_bytes: int = 256 * 1024,
        privileged_intents: int = 0,
        heartbeat_interval_ms: int = 41250,
        nonce_window_s: float = DEFAULT_NONCE_WINDOW_S,
    ) -> None:
        self.clock = clock
        self.token = token
        self.nonce_window_s = nonce_window_s
        self.ids = SnowflakeMinter(clock)
        self.world = World(self.ids, clock)
        self.default: DefaultWorld | None = (
            self.world.populate_default() if populate_default else None
        )
        self.base_url = ""
        self.gateway_url = ""
        self.upload_limits = dict(upload_limits or DEFAULT_UPLOAD_LIMITS)
        self.keep_upload_bytes = keep_upload_bytes
        self.cdn = Cdn(clock, self.ids, lambda: self.base_url)
        self.commands = CommandRegistry(self.ids, self.world.app_id)
        self.messages: dict[int, Message] = {}
        # (channel, author, nonce) → the message created with it; see `message_by_nonce`.
        self._nonces: dict[tuple[int, int, str], int] = {}
        # Direct messages: channel id → channel (no guild), its recipient; who refuses them.
        self.dm_channels: dict[int, Channel] = {}
        self.dm_recipients: dict[int, int] = {}
        self.closed_dms: set[int] = set()
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.requests: list[RequestRecord] = []
        self.injections: list[Injection] = []
        self.gateway = Gateway(
            GatewayWorld(
                token=lambda: self.token,
                url=lambda: self.gateway_url,
                ready_user=lambda: {**self.world.bot.payload(), "verified": True},
                application_id=lambda: self.world.app_id,
                guilds=self._bot_guild_payloads,
                members=self._member_payloads,
            ),
            heartbeat_interval_ms=heartbeat_interval_ms,
            privileged_intents=privileged_intents,
        )

    # -- lookups ------------------------------------------------------------------------------

    def channel(self, channel_id: int) -> tuple[Guild, Channel]:
        """The guild and channel, or 404/10003."""
        found = self.world.guild_of_channel(channel_id)
        if found is None:
            raise DiscordError(404, 10003)
        return found

    def channel_message(self, channel: Channel, message_id: int) -> Message:
        """A visible message of the channel, or 404/10008 (ephemeral ones are not reachable)."""
        message = self.messages.get(message_id)
        if message is None or message.channel_id != channel.id or message.deleted:
            raise DiscordError(404, 10008)
        if message.is_ephemeral:
            raise DiscordError(404, 10008)
        return message

    def bot_member(self, guild: Guild) -> Member:
        """The bot's member, or 403/50001 when the bot is not in the guild."""
        member = self.world.bot_member(guild)
        if member is None:
            raise DiscordError(403, 50001)
        return member

    def require(self, guild: Guild, channel: Channel, need: int) -> int:
        """The bot's channel permissions; 403/50001 without View Channel, 403/50013 if short."""
        have = channel_permissions(guild, channel, self.bot_member(guild))
        if not have & Perm.VIEW_CHANNEL:
            raise DiscordError(403, 50001)
        if need & ~have:
            raise DiscordError(403, 50013, f"Missing Permissions: {', '.join(missing(have, need))}")
        return have

    def reopen_for_post(self, channel: Channel, have: int) -> None:
        """A post in an archived thread reopens it (THREAD_UPDATE), unless it is locked and the
        poster lacks Manage Threads: then 400/50083."""
        if not channel.is_thread or not channel.archived:
            return
        if channel.locked and not have & Perm.MANAGE_THREADS:
            raise DiscordError(400, 50083)
        channel.archived = False
        self.gateway.dispatch("THREAD_UPDATE", channel.thread_payload())

    def upload_limit(self, guild: Guild) -> int:
        """Per-file limit in the guild (the bot's own uploads, and interaction responses)."""
        return guild.upload_limit(self.upload_limits)

    def message_payload(self, message: Message, *, with_nonce: bool = False) -> JSON:
        """The JSON for a message, including the message it replies to (and ``nonce`` if asked)."""
        referenced = (
            None if message.reference_id is None else self.messages.get(message.reference_id)
        )
        data = message.payload(self.world.bot.id, referenced, with_nonce=with_nonce)
        data["attachments"] = [self.cdn.fresh_payload(a) for a in message.attachments]
        return data

    def message_by_nonce(self, channel: Channel, author: User, nonce: str | int) -> Message | None:
        """The message ``author`` created in ``channel`` with ``nonce`` within the nonce window.

        A deleted message does not count (judgment: Discord does not document that case).
        """
        message_id = self._nonces.get((channel.id, author.id, str(nonce)))
        message = None if message_id is None else self.messages.get(message_id)
        if message is None or message.deleted:
            return None
        if self.clock.now() - message.created_at > self.nonce_window_s:
            return None
        return message

    # -- direct messages ----------------------------------------------------------------------

    def open_dm(self, user_id: int) -> Channel:
        """The bot's DM channel with a user (``POST /users/@me/channels``), made on first use."""
        for channel_id, recipient in self.dm_recipients.items():
            if recipient == user_id:
                return self.dm_channels[channel_id]
        user = self.world.users.get(user_id)
        if user is None or user.is_bot:
            raise DiscordError(400, 50033)
        channel = Channel(id=self.ids.mint(), guild_id=0, name=f"@{user.username}", type=DM_CHANNEL)
        self.dm_channels[channel.id] = channel
        self.dm_recipients[channel.id] = user_id
        return channel

    def dm_payload(self, channel: Channel) -> JSON:
        """The DM channel object discord.py's ``create_dm`` parses."""
        recipient = self.world.users[self.dm_recipients[channel.id]]
        return {
            "id": str(channel.id),
            "type": DM_CHANNEL,
            "last_message_id": None,
            "recipients": [recipient.payload()],
            "flags": 0,
        }

    def dm_messages(self, user_id: int) -> list[Message]:
        """What the bot sent a user in private, oldest first."""
        return [
            m
            for channel_id, recipient in self.dm_recipients.items()
            if recipient == user_id
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted
        ]

    # -- messages -----------------------------------------------------------------------------

    def post_message(
        self,
        guild: Guild | None,
        channel: Channel,
        author: User,
        body: Body,
        *,
        interaction: InteractionRecord | None = None,
        extra_flags: int = 0,
        validate: bool = True,
        nonce: str | int | None = None,
    ) -> Message:
        """Create a message from a body (validated) and echo MESSAGE_CREATE if others see it.

        ``guild`` None: a direct message (not echoed: the bot has no direct-message intent).
        """
        payload = body.payload
        if validate:
            validate_message(payload, file_count=len(body.files), require_content=True)
        reference_id, reference_author = self._reference(channel, payload.get("message_reference"))
        message = Message(
            id=self.ids.mint(),
            channel_id=channel.id,
            guild_id=None if guild is None else guild.id,
            author=author,
            content=str(payload.get("content") or ""),
            embeds=list(payload.get("embeds") or []),
            attachments=self._new_files(channel, body),
            allowed_mentions=payload.get("allowed_mentions"),
            reference_id=reference_id,
            reference_author_id=reference_author,
            flags=(int(payload.get("flags") or 0) & _SETTABLE_FLAGS) | extra_flags,
            tts=bool(payload.get("tts")),
            components=list(payload.get("components") or []),
            created_at=self.clock.now(),
            nonce=nonce,
        )
        if interaction is not None:
            message.interaction_id = interaction.id
            message.interaction_user = interaction.member.user
            message.interaction_type = interaction.type
            if interaction.message is not None:
                message.interacted_message_id = interaction.message.id
            message.application_id = self.world.app_id
        self.messages[message.id] = message
        if nonce is not None:
            self._nonces[(channel.id, author.id, str(nonce))] = message.id
        if not message.is_ephemeral and guild is not None:
            self.gateway.dispatch("MESSAGE_CREATE", self.message_payload(message, with_nonce=True))
        return message

    def edit_message(self, message: Message, body: Body) -> Message:
        """Apply a PATCH: replace the fields present, keep listed attachments, add new files."""
        payload = body.payload
        validate_message(payload, file_count=len(body.files), require_content=False)
        # Filling a deferred "thinking…" placeholder is not an edit in the member's eyes.
        is_edit = not message.is_loading
        if is_edit:
            message.history.append(message.snapshot(self.clock.now()))
        if "content" in payload:
            message.content = str(payload["content"] or "")
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if payload.get("flags") is not None:
            kept = message.flags & ~_SETTABLE_FLAGS
            message.flags = kept | (int(payload["flags"]) & _SETTABLE_FLAGS)
        new_files = self._new_files(self._channel_of(message), body)
        if "attachments" in payload:
            keep = {int(a["id"]) for a in payload["attachments"] or [] if "filename" not in a}
            message.attachments = [a for a in message.attachments if a.id in keep]
        message.attachments += new_files
        message.flags &= ~FLAG_LOADING
        if is_edit:
            message.edited_at = self.clock.now()
        if not message.is_ephemeral:
            self.gateway.dispatch("MESSAGE_UPDATE", self.message_payload(message))
        return message

    def delete_message(self, message: Message) -> None:
        """Mark a message deleted (kept for assertions) and echo MESSAGE_DELETE."""
        message.deleted = True
        if not message.is_ephemeral:
            self.gateway.dispatch(
                "MESSAGE_DELETE",
                {
                    "id": str(message.id),
                    "channel_id": str(message.channel_id),
                    "guild_id": str(message.guild_id),
                },
            )

    def _channel_of(self, message: Message) -> Channel:
        return self.channel(message.channel_id)[1]

    def _new_files(self, channel: Channel, body: Body) -> list[StoredFile]:
        described = {
            int(a["id"]): a for a in body.payload.get("attachments") or [] if "filename" in a
        }
        stored = []
        for incoming in body.files:
            meta = described.get(incoming.index, {})
            filename = str(meta.get("filename") or incoming.filename)
            stored.append(self.cdn.store_upload(channel.id, incoming, filename))
        return stored

    def _reference(self, channel: Channel, reference: Any) -> tuple[int | None, int | None]:
        if not isinstance(reference, dict) or reference.get("message_id") is None:
            return None, None
        target = self.messages.get(int(reference["message_id"]))
        wanted_channel = int(reference.get("channel_id") or channel.id)
        if target is None or target.deleted or target.channel_id != wanted_channel:
            if reference.get("fail_if_not_exists", True):
                raise invalid_form(
                    "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                )
            return None, None
        return target.id, target.author.id

    # -- reactions ----------------------------------------------------------------------------

    def add_reaction(self, message: Message, member: Member, emoji: str) -> bool:
        """Record a reaction and echo MESSAGE_REACTION_ADD; False if it was already there."""
        users = message.reactions.setdefault(emoji, [])
        if member.id in users:
            return False
        users.append(member.id)
        self.gateway.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(member.id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(message.guild_id),
                "member": member.payload(),
                "emoji": emoji_payload(emoji),
                "message_author_id": str(message.author.id),
                "burst": False,
                "burst_colors": [],
                "type": 0,
            },
        )
        return True

    def remove_reaction(self, message: Message, user_id: int, emoji: str) -> bool:
        """Remove a reaction and echo MESSAGE_REACTION_REMOVE; False if there was none."""
        users = message.reactions.get(emoji, [])
        if user_id not in users:
            return False
        users.remove(user_id)
        self.gateway.dispatch(
            "MESSAGE_REACTION_REMOVE",
            {
                "user_id": str(user_id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(message.guild_id),
                "emoji": emoji_payload(emoji),
                "burst": False,
                "type": 0,
            },
        )
        return True

    # -- interactions -------------------------------------------------------------------------

    def dispatch_interaction(
        self,
        member: Member,
        channel: Channel,
        *,
        interaction_type: int,
        name: str,
        data: JSON,
        backdate_s: float = 0.0,
        message: Message | None = None,
    ) -> InteractionRecord:
        """Mint an interaction (optionally with an old snowflake) and send INTERACTION_CREATE.

        ``message``: the message a component was clicked on (sent as the interaction's
        ``message``, as Discord does for components and modals opened from them).
        """
        guild = self.world.guilds[channel.guild_id]
        if not self.gateway.serves(guild.id):  # no session at all, or none of its shard
            raise DriverError("the bot has no gateway session for this guild: start it first")
        now = self.clock.now()
        interaction_id = self.ids.mint(at=now - backdate_s) if backdate_s else self.ids.mint()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        bot = self.world.bot_member(guild)
        payload = interaction_payload(
            interaction_id=interaction_id,
            token=token,
            interaction_type=interaction_type,
            application_id=self.world.app_id,
            guild=guild,
            channel=channel,
            member=member,
            member_permissions=channel_permissions(guild, channel, member),
            app_permissions=0 if bot is None else channel_permissions(guild, channel, bot),
            attachment_size_limit=self.upload_limit(guild),
            data=data,
            message=None if message is None else self.message_payload(message),
        )
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=interaction_type,
            guild=guild,
            channel=channel,
            member=member,
            name=name,
            payload=payload,
            dispatched_at=now,
            message=message,
        )
        self.interactions[interaction_id] = record
        self.interactions_by_token[token] = record
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    # -- gateway helpers ----------------------------------------------------------------------

    def _bot_guild_payloads(self) -> list[JSON]:
        return [g.payload() for g in self.world.guilds.values() if self.world.bot_member(g)]

    def _member_payloads(self, guild_id: int) -> list[JSON]:
        guild = self.world.guilds.get(guild_id)
        return [] if guild is None else [m.payload() for m in guild.members.values()]


def response_flags(payload: JSON) -> int:
    """The EPHEMERAL bit a response body asks for."""
    return int(payload.get("flags") or 0) & FLAG_EPHEMERAL

"""Interaction state and Discord's rules: 3 s to acknowledge, one acknowledgement, 15-min token."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.fakes.discord.messages import Message
from bot.fakes.discord.models import JSON, Channel, Guild, Member
from bot.fakes.discord.snowflakes import snowflake_time
from bot.fakes.discord.wire import DiscordError

ACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

CALLBACK_MESSAGE = 4
CALLBACK_DEFERRED = 5
CALLBACK_DEFERRED_UPDATE = 6
CALLBACK_UPDATE = 7
CALLBACK_AUTOCOMPLETE = 8
CALLBACK_MODAL = 9
# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({CALLBACK_MESSAGE, CALLBACK_DEFERRED, CALLBACK_MODAL}),
    # A click may answer anew (4, 5), acknowledge or edit the clicked message (6, 7), or ask (9).
    MESSAGE_COMPONENT: frozenset(
        {
            CALLBACK_MESSAGE,
            CALLBACK_DEFERRED,
            CALLBACK_DEFERRED_UPDATE,
            CALLBACK_UPDATE,
            CALLBACK_MODAL,
        }
    ),
    AUTOCOMPLETE: frozenset({CALLBACK_AUTOCOMPLETE}),
    MODAL_SUBMIT: frozenset({CALLBACK_MESSAGE, CALLBACK_DEFERRED, CALLBACK_DEFERRED_UPDATE}),
}


@dataclass(frozen=True)
class Ack:
    """How and when the bot acknowledged an interaction."""

    type: int
    latency_s: float
    ephemeral: bool


@dataclass
class InteractionRecord:
    """One interaction the fake dispatched, and everything the bot did with it."""

    id: int
    token: str
    type: int
    guild: Guild
    channel: Channel
    member: Member
    name: str
    payload: JSON
    dispatched_at: float
    ack: Ack | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: JSON | None = None
    choices: list[JSON] | None = None
    token_revoked: bool = False
    # The message a component was clicked on (also for a modal opened from that click).
    message: Message | None = None
    errors: list[DiscordError] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def created_at(self) -> float:
        """Creation time from the snowflake (backdated interactions have an old one)."""
        return snowflake_time(self.id)

    @property
    def messages(self) -> list[Message]:
        """What the member sees: the original response, then followups (deleted ones omitted)."""
        found = [] if self.original is None else [self.original]
        return [m for m in found + self.followups if not m.deleted]

    def touch(self) -> None:
        """Wake whoever waits on this interaction."""
        self.changed.set()


def check_callback(record: InteractionRecord, callback_type: int, now: float) -> None:
    """The callback's rules: a second ack is 400/40060; more than 3 s after dispatch 404/10062."""
    if record.ack is not None:
        raise DiscordError(400, 40060)
    if now - record.dispatched_at > ACK_DEADLINE_S:
        raise DiscordError(404, 10062)
    allowed = ALLOWED_CALLBACKS.get(record.type, frozenset())
    if record.type == MODAL_SUBMIT and record.message is not None:
        allowed = allowed | {CALLBACK_UPDATE}  # a modal opened from a button may edit its message
    if callback_type not in allowed:
        raise DiscordError(400, 50035, f"Invalid interaction callback type {callback_type}")


def check_token(record: InteractionRecord | None, now: float) -> InteractionRecord:
    """Token-based (webhook) routes: 401/50027 after 15 minutes; 404/10015 before any ack."""
    if record is None:
        raise DiscordError(404, 10015)
    if record.token_revoked or now - record.created_at > TOKEN_LIFETIME_S:
        raise DiscordError(401, 50027)
    if record.ack is None:
        # The webhook only exists once the interaction has been acknowledged in time.
        raise DiscordError(404, 10015)
    return record


def interaction_payload(
    *,
    interaction_id: int,
    token: str,
    interaction_type: int,
    application_id: int,
    guild: Guild,
    channel: Channel,
    member: Member,
    member_permissions: int,
    app_permissions: int,
    attachment_size_limit: int,
    data: JSON,
    message: JSON | None = None,
) -> JSON:
    """INTERACTION_CREATE's ``d``, with every key discord.py 2.7.1 requires."""
    channel_payload = channel.payload()
    channel_payload["permissions"] = str(member_permissions)
    payload: JSON = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "data": data,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
        "channel_id": str(channel.id),
        "channel": channel_payload,
        "member": member.payload(permissions=member_permissions),
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": member.locale,
        "guild_locale": guild.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": attachment_size_limit,
    }
    if message is not None:
        payload["message"] = message  # components and modals opened from them
    return payload

"""Messages as a member would see them: content, embeds, files, mentions, reactions, edits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.fakes.discord.models import JSON, User
from bot.fakes.discord.snowflakes import iso_timestamp

FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


@dataclass(frozen=True)
class StoredFile:
    """An attachment: a member's upload to a slash option, or a file the bot posted.

    Only the first ``head`` bytes are kept for big files; ``sha256`` and ``size_bytes`` always
    describe the whole file.
    """

    id: int
    filename: str
    size_bytes: int
    sha256: str
    content_type: str
    head: bytes
    url: str
    proxy_url: str
    width: int | None = None
    height: int | None = None
    ephemeral: bool = False
    description: str | None = None
    channel_id: int = 0  # where it was uploaded: part of its CDN path

    @property
    def is_complete(self) -> bool:
        """True when ``head`` holds the whole file (so the CDN can serve it)."""
        return len(self.head) == self.size_bytes

    def payload(self) -> JSON:
        """The attachment object of messages and ``resolved.attachments``."""
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size_bytes,
            "url": self.url,
            "proxy_url": self.proxy_url,
            "content_type": self.content_type,
            "ephemeral": self.ephemeral,
            "flags": 0,
        }
        if self.width is not None and self.height is not None:
            data["width"] = self.width
            data["height"] = self.height
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass(frozen=True)
class MessageVersion:
    """What a message looked like before an edit."""

    content: str
    embeds: list[JSON]
    attachments: list[StoredFile]
    flags: int
    at: float


@dataclass(frozen=True)
class Pings:
    """Who a message actually notifies, after ``allowed_mentions`` is applied."""

    user_ids: frozenset[int]
    role_ids: frozenset[int]
    everyone: bool


@dataclass
class Message:
    """A message's current state plus its edit history and reactions."""

    id: int
    channel_id: int
    guild_id: int | None  # None in a direct message
    author: User
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    attachments: list[StoredFile] = field(default_factory=list)
    allowed_mentions: JSON | None = None
    reference_id: int | None = None
    reference_author_id: int | None = None
    flags: int = 0
    tts: bool = False
    components: list[JSON] = field(default_factory=list)
    created_at: float = 0.0
    edited_at: float | None = None
    deleted: bool = False
    reactions: dict[str, list[int]] = field(default_factory=dict)
    history: list[MessageVersion] = field(default_factory=list)
    interaction_id: int | None = None
    interaction_user: User | None = None
    interaction_type: int = 2  # the interaction that made it: a command (2), a click (3) …
    interacted_message_id: int | None = None  # for a click: the message that was clicked
    application_id: int | None = None
    # Kept only to answer a repeat within the nonce window; Discord doesn't store it long term.
    nonce: str | int | None = None

    @property
    def is_ephemeral(self) -> bool:
        """Only the invoking member can see it."""
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def is_loading(self) -> bool:
        """Still the "Bot is thinking…" placeholder of a deferred response."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def is_reply(self) -> bool:
        """It replies to another message."""
        return self.reference_id is not None

    def reactors(self, emoji: str) -> list[int]:
        """User IDs that reacted with ``emoji`` (in order)."""
        return list(self.reactions.get(emoji, []))

    def snapshot(self, at: float) -> MessageVersion:
        """Freeze the current visible state (taken before an edit)."""
        return MessageVersion(
            content=self.content,
            embeds=list(self.embeds),
            attachments=list(self.attachments),
            flags=self.flags,
            at=at,
        )

    def pings(self) -> Pings:
        """Users, roles and @everyone this message notifies, per Discord's allowed_mentions."""
        users = {int(u) for u in _USER_MENTION.findall(self.content)}
        roles = {int(r) for r in _ROLE_MENTION.findall(self.content)}
        everyone = "@everyone" in self.content or "@here" in self.content
        mentions = self.allowed_mentions
        if mentions is None:
            # Without allowed_mentions, everything typed pings, and so does a reply.
            if self.reference_author_id is not None:
                users.add(self.reference_author_id)
            return Pings(frozenset(users), frozenset(roles), everyone)
        parse = set(mentions.get("parse", []))
        if "users" not in parse:
            users &= {int(u) for u in mentions.get("users", [])}
        if "roles" not in parse:
            roles &= {int(r) for r in mentions.get("roles", [])}
        if mentions.get("replied_user") and self.reference_author_id is not None:
            users.add(self.reference_author_id)
        return Pings(frozenset(users), frozenset(roles), everyone and "everyone" in parse)

    def summary(self) -> JSON:
        """A plain-JSON view for control endpoints, logs and the demo."""
        pings = self.pings()
        return {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author_id": str(self.author.id),
            "content": self.content,
            "embeds": self.embeds,
            "attachments": [
                {
                    "id": str(a.id),
                    "filename": a.filename,
                    "size_bytes": a.size_bytes,
                    "content_type": a.content_type,
                    "sha256": a.sha256,
                }
                for a in self.attachments
            ],
            "allowed_mentions": self.allowed_mentions,
            "pings": {
                "users": sorted(str(u) for u in pings.user_ids),
                "roles": sorted(str(r) for r in pings.role_ids),
                "everyone": pings.everyone,
            },
            "reply_to": None if self.reference_id is None else str(self.reference_id),
            "reactions": {
                e: [str(u) for u in users] for e, users in self.reactions.items() if users
            },
            "ephemeral": self.is_ephemeral,
            "loading": self.is_loading,
            "deleted": self.deleted,
            "edits": len(self.history),
            "interaction_id": None if self.interaction_id is None else str(self.interaction_id),
            "components": self.components,
        }

    def payload(
        self, bot_user_id: int, referenced: Message | None = None, *, with_nonce: bool = False
    ) -> JSON:
        """The message object discord.py parses (``id/channel_id/type/content`` required).

        ``with_nonce`` for the create response and MESSAGE_CREATE only: Discord uses a nonce
        ephemerally and never returns it when the message is fetched later.
        """
        message_type = MESSAGE_DEFAULT
        if self.interaction_id is not None:
            message_type = MESSAGE_CHAT_INPUT_COMMAND
        elif self.reference_id is not None:
            message_type = MESSAGE_REPLY
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": message_type,
            "content": self.content,
            "author": self.author.payload(),
            "attachments": [a.payload() for a in self.attachments],
            "embeds": list(self.embeds),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": self.tts,
            "timestamp": iso_timestamp(self.created_at),
            "edited_timestamp": None if self.edited_at is None else iso_timestamp(self.edited_at),
            "flags": self.flags,
            "components": list(self.components),
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.reactions:
            data["reactions"] = [
                _reaction_payload(emoji, users, bot_user_id)
                for emoji, users in self.reactions.items()
                if users
            ]
        if self.reference_id is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(self.reference_id),
                "channel_id": str(self.channel_id),
            }
            if self.guild_id is not None:
                data["message_reference"]["guild_id"] = str(self.guild_id)
            data["referenced_message"] = (
                None
                if referenced is None or referenced.deleted
                else referenced.payload(bot_user_id)
            )
        if with_nonce and self.nonce is not None:
            data["nonce"] = self.nonce
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_id is not None and self.interaction_user is not None:
            data["webhook_id"] = str(self.application_id)
            data["interaction_metadata"] = {
                "id": str(self.interaction_id),
                "type": self.interaction_type,
                "user": self.interaction_user.payload(),
                "authorizing_integration_owners": {"0": str(self.guild_id)},
            }
            if self.interacted_message_id is not None:
                data["interaction_metadata"]["interacted_message_id"] = str(
                    self.interacted_message_id
                )
        return data


def emoji_payload(emoji: str) -> JSON:
    """Partial emoji for ``name`` (unicode) or ``name:id`` (custom)."""
    name, _, emoji_id = emoji.partition(":")
    if emoji_id:
        return {"id": emoji_id, "name": name, "animated": False}
    return {"id": None, "name": emoji}


def _reaction_payload(emoji: str, users: list[int], bot_user_id: int) -> dict[str, Any]:
    return {
        "emoji": emoji_payload(emoji),
        "count": len(users),
        "count_details": {"burst": 0, "normal": len(users)},
        "me": bot_user_id in users,
        "me_burst": False,
        "burst_colors": [],
    }

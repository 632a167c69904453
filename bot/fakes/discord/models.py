"""The fake's world: users, guilds, roles, channels and members, and their Discord JSON shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.fakes.discord.snowflakes import iso_timestamp, snowflake_time

JSON = dict[str, Any]

# Discord's per-file upload limits by boost tier (tiers 0 and 1 share the default).
DEFAULT_UPLOAD_LIMITS: dict[int, int] = {
    0: 10 * 1024 * 1024,
    1: 10 * 1024 * 1024,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}

OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1

GUILD_TEXT = 0
GUILD_CATEGORY = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})


@dataclass
class User:
    """A Discord account (member, owner or the bot)."""

    id: int
    username: str
    is_bot: bool = False
    global_name: str | None = None

    def payload(self) -> JSON:
        """The user object discord.py's ``User``/``ClientUser`` parse."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.is_bot,
            "public_flags": 0,
            "flags": 0,
            "mfa_enabled": False,
            "verified": True,
        }

    @property
    def mention(self) -> str:
        """``<@id>``, as typed in message content."""
        return f"<@{self.id}>"


@dataclass
class Role:
    """A guild role; the @everyone role has the guild's ID."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = False
    managed: bool = False

    def payload(self) -> JSON:
        """The role object of GUILD_CREATE and ``resolved.roles``."""
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    @property
    def is_everyone(self) -> bool:
        """True for the @everyone role."""
        return self.id == self.guild_id

    @property
    def mention(self) -> str:
        """``<@&id>``, as typed in message content."""
        return f"<@&{self.id}>"


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> JSON:
        """The overwrite object inside a channel."""
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    """A guild text channel (type 0), category (4) or forum (15), or a thread (11, 12) in one.

    A thread has no overwrites of its own: its permissions are its parent's (``parent_id``).
    """

    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    parent_id: int | None = None
    topic: str | None = None
    owner_id: int | None = None  # threads: who started it
    archived: bool = False  # threads: read-only until a post (or a moderator) reopens it
    locked: bool = False  # threads: only Manage Threads may reopen it
    archived_at: float = 0.0

    @property
    def is_thread(self) -> bool:
        """A thread or a forum post."""
        return self.type in THREAD_TYPES

    def payload(self) -> JSON:
        """The channel object of GUILD_CREATE, CHANNEL_UPDATE and ``GET /channels/{id}``."""
        if self.is_thread:
            return self.thread_payload()
        data = self._channel_payload()
        if self.type == GUILD_FORUM:
            data.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_thread_rate_limit_per_user=0,
                default_sort_order=None,
                default_forum_layout=0,
            )
        return data

    def thread_payload(self) -> JSON:
        """The thread object of GUILD_CREATE's ``threads``, THREAD_CREATE and THREAD_UPDATE."""
        return {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id or 0),
            "name": self.name,
            "type": self.type,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso_timestamp(self.archived_at),
                "locked": self.locked,
            },
        }

    def _channel_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "topic": self.topic,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def overwrite_for(self, target_id: int, target_type: int) -> Overwrite | None:
        """The overwrite for a role or member, if the channel has one."""
        for overwrite in self.overwrites:
            if overwrite.id == target_id and overwrite.type == target_type:
                return overwrite
        return None

    @property
    def mention(self) -> str:
        """``<#id>``, as typed in message content."""
        return f"<#{self.id}>"


@dataclass
class Member:
    """A user's membership of a guild; ``role_ids`` excludes @everyone, as Discord's does."""

    user: User
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float | None = None
    locale: str = "en-US"  # the language of the member's Discord client: interactions' locale

    @property
    def id(self) -> int:
        """The user's ID."""
        return self.user.id

    @property
    def mention(self) -> str:
        """``<@id>``, as typed in message content."""
        return self.user.mention

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        """The member object; discord.py requires ``roles`` and ``flags`` (and ``user`` mostly)."""
        joined = self.joined_at if self.joined_at is not None else snowflake_time(self.guild_id)
        data: JSON = {
            "roles": [str(r) for r in self.role_ids],
            "flags": 0,
            "joined_at": iso_timestamp(joined),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "pending": False,
            "deaf": False,
            "mute": False,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Guild:
    """A server: its roles, channels and members, and its boost tier."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    threads: dict[int, Channel] = field(default_factory=dict)  # threads and forum posts
    members: dict[int, Member] = field(default_factory=dict)
    upload_limit_bytes: int | None = None  # overrides the tier table when set
    locale: str = "en-US"

    def channel_or_thread(self, channel_id: int) -> Channel | None:
        """A channel or a thread of this guild."""
        return self.channels.get(channel_id) or self.threads.get(channel_id)

    @property
    def everyone(self) -> Role:
        """The @everyone role (same ID as the guild)."""
        return self.roles[self.id]

    def upload_limit(self, limits: dict[int, int]) -> int:
        """Per-file upload limit for this guild: the override, else the tier's entry."""
        if self.upload_limit_bytes is not None:
            return self.upload_limit_bytes
        return limits.get(self.premium_tier, limits[0])

    def update_payload(self) -> JSON:
        """The guild object of GUILD_UPDATE and ``GET /guilds/{id}`` (no members or channels)."""
        payload = self.payload()
        for key in ("channels", "members", "threads", "voice_states", "presences"):
            payload.pop(key)
        return payload

    def payload(self) -> JSON:
        """The GUILD_CREATE payload (a full, available guild)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "owner_id": str(self.owner_id),
            "unavailable": False,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": [0, 2, 7, 14][min(self.premium_tier, 3)],
            "preferred_locale": self.locale,
            "features": [],
            "icon": None,
            "splash": None,
            "banner": None,
            "description": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "afk_timeout": 300,
            "large": False,
            "member_count": len(self.members),
            "joined_at": iso_timestamp(snowflake_time(self.id)),
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values()],
            "members": [m.payload() for m in self.members.values()],
            # Only active threads: discord.py learns of archived ones when it meets them.
            "threads": [t.thread_payload() for t in self.threads.values() if not t.archived],
            "voice_states": [],
            "presences": [],
            "emojis": [],
            "stickers": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

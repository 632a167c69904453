"""Discord's permission maths: base permissions from roles, then channel overwrites.

Follows https://docs.discord.com/developers/topics/permissions (the "Permission Hierarchy" and
"Implicit Permissions" sections). Pure functions of the world's models.
"""

from __future__ import annotations

import enum

from bot.fakes.discord.models import OVERWRITE_MEMBER, OVERWRITE_ROLE, Channel, Guild, Member


class Perm(enum.IntFlag):
    """The permission bits the fake checks or that tests commonly grant."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40


# Every permission Discord defines today (the value discord.py's Permissions.all() has).
ALL_PERMISSIONS = 0x1F7FFFFFFFFFFF

# What a fresh server gives @everyone, close enough for tests.
EVERYONE_DEFAULT = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)

# Without SEND_MESSAGES, Discord also denies these in a text channel.
_NEEDS_SEND = Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES


def base_permissions(guild: Guild, member: Member) -> int:
    """Guild-level permissions: owner and ADMINISTRATOR get everything, else OR of roles."""
    if member.id == guild.owner_id:
        return ALL_PERMISSIONS
    permissions = guild.everyone.permissions
    for role_id in member.role_ids:
        role = guild.roles.get(role_id)
        if role is not None:
            permissions |= role.permissions
    if permissions & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return permissions


def apply_overwrites(
    base: int,
    *,
    everyone: tuple[int, int] | None,
    roles: list[tuple[int, int]],
    member: tuple[int, int] | None,
) -> int:
    """Apply (allow, deny) overwrites in Discord's order: @everyone, all roles at once, member."""
    permissions = base
    if everyone is not None:
        allow, deny = everyone
        permissions = (permissions & ~deny) | allow
    role_allow = 0
    role_deny = 0
    for allow, deny in roles:
        role_allow |= allow
        role_deny |= deny
    permissions = (permissions & ~role_deny) | role_allow
    if member is not None:
        allow, deny = member
        permissions = (permissions & ~deny) | allow
    return permissions


def channel_permissions(guild: Guild, channel: Channel, member: Member) -> int:
    """A member's effective permissions in a channel, including implicit denials.

    A thread (or forum post) has its parent's permissions; posting in it takes Send Messages
    in Threads, not Send Messages.
    """
    if channel.is_thread:
        parent = guild.channels.get(channel.parent_id or 0)
        if parent is None:
            return 0
        permissions = _overwritten(guild, parent, member)
        if not permissions & Perm.VIEW_CHANNEL:
            return 0
        if not permissions & Perm.SEND_MESSAGES_IN_THREADS:
            permissions &= ~_NEEDS_SEND
        return permissions
    permissions = _overwritten(guild, channel, member)
    # Implicit permissions: a channel you cannot see grants nothing, and a channel you cannot
    # send in does not let you attach, embed, TTS or mention everyone either.
    if not permissions & Perm.VIEW_CHANNEL:
        return 0
    if not permissions & Perm.SEND_MESSAGES:
        permissions &= ~_NEEDS_SEND
    return permissions


def _overwritten(guild: Guild, channel: Channel, member: Member) -> int:
    """Base permissions with the channel's overwrites applied (no implicit denials yet)."""
    base = base_permissions(guild, member)
    if base & Perm.ADMINISTRATOR or base == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    everyone_ow = channel.overwrite_for(guild.id, OVERWRITE_ROLE)
    role_ows = [
        (ow.allow, ow.deny)
        for role_id in member.role_ids
        if (ow := channel.overwrite_for(role_id, OVERWRITE_ROLE)) is not None
    ]
    member_ow = channel.overwrite_for(member.id, OVERWRITE_MEMBER)
    return apply_overwrites(
        base,
        everyone=None if everyone_ow is None else (everyone_ow.allow, everyone_ow.deny),
        roles=role_ows,
        member=None if member_ow is None else (member_ow.allow, member_ow.deny),
    )


def missing(have: int, need: int) -> list[str]:
    """Names of the permission bits in ``need`` that ``have`` lacks (for error messages)."""
    return [p.name or str(p.value) for p in Perm if need & p and not have & p]

"""Who is a moderator: enforced by the bot, whatever Discord's command permissions say.

A moderator has Manage Server (or Administrator, or owns the server), or holds a role named in
the config's `quotas.moderator_roles` (by name or numeric ID) or in the server's own settings.
Discord's `default_member_permissions` is only a hint that server admins can override.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.errors import NotModerator
from bot.domain.i18n import _, translated

MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the bot knows about a member, as plain data."""

    user_id: int
    permissions: int  # the member's guild-level permission bits
    role_ids: tuple[int, ...] = ()
    role_names: tuple[str, ...] = ()
    is_owner: bool = False


def is_moderator(
    member: MemberFacts,
    *,
    config_roles: Iterable[str | int],
    guild_role_ids: Iterable[int] = (),
) -> bool:
    """True for Manage Server, Administrator, the owner, or a moderator role (name or ID)."""
    if member.is_owner or member.permissions & (MANAGE_GUILD | ADMINISTRATOR):
        return True
    held = set(member.role_ids)
    if held & set(guild_role_ids):
        return True
    names = {name.casefold() for name in member.role_names}
    for role in config_roles:
        if isinstance(role, int) and role in held:
            return True
        if isinstance(role, str) and (
            (role.isdigit() and int(role) in held) or role.casefold() in names
        ):
            return True
    return False


def require_moderator(
    member: MemberFacts,
    *,
    config_roles: Iterable[str | int],
    guild_role_ids: Iterable[int] = (),
    action: str,
) -> None:
    """Raise `NotModerator` (with the sentence the member reads) unless they are a moderator."""
    if not is_moderator(member, config_roles=config_roles, guild_role_ids=guild_role_ids):
        raise NotModerator(
            _(
                "Only moderators can {action}: members with Manage Server or a moderator role."
            ).format(action=translated(action))
        )


def is_administrator(member: MemberFacts) -> bool:
    """True for Administrator or the server's owner: who may name the moderator roles."""
    return member.is_owner or bool(member.permissions & ADMINISTRATOR)


def require_administrator(member: MemberFacts, *, action: str) -> None:
    """Raise `NotModerator` (the sentence names `action`) unless the member is an administrator."""
    if not is_administrator(member):
        raise NotModerator(
            _(
                "Only administrators can {action}: members with the Administrator permission."
            ).format(action=translated(action))
        )

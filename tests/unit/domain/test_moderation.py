"""Moderator rights are decided by the bot: Manage Server, or a moderator role by name or ID."""

from __future__ import annotations

import pytest

from bot.domain.errors import NotModerator
from bot.domain.moderation import (
    ADMINISTRATOR,
    MANAGE_GUILD,
    MemberFacts,
    is_moderator,
    require_moderator,
)

PLAIN = MemberFacts(user_id=1, permissions=0, role_ids=(10,), role_names=("Members",))


@pytest.mark.parametrize(
    ("member", "config_roles", "guild_roles", "expected"),
    [
        (PLAIN, [], [], False),
        (MemberFacts(1, MANAGE_GUILD), [], [], True),
        (MemberFacts(1, ADMINISTRATOR), [], [], True),
        (MemberFacts(1, 0, is_owner=True), [], [], True),
        (MemberFacts(1, 0, (20,), ("Helpers",)), ["helpers"], [], True),  # names: any case
        (MemberFacts(1, 0, (20,), ("Helpers",)), [20], [], True),
        (MemberFacts(1, 0, (20,), ("Helpers",)), ["20"], [], True),  # an ID written as text
        (MemberFacts(1, 0, (20,), ("Helpers",)), ["Admins", 30], [], False),
        (MemberFacts(1, 0, (20,), ("Helpers",)), [], [20], True),  # the server's own setting
        (MemberFacts(1, 0, (20,), ("Helpers",)), [], [21], False),
    ],
)
def test_who_is_a_moderator(
    member: MemberFacts, config_roles: list[str | int], guild_roles: list[int], expected: bool
) -> None:
    assert is_moderator(member, config_roles=config_roles, guild_role_ids=guild_roles) is expected


def test_refusal_says_who_may() -> None:
    with pytest.raises(NotModerator, match="Only moderators can set limits: members with Manage"):
        require_moderator(PLAIN, config_roles=[], action="set limits")

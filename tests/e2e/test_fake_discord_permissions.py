"""Permission maths of the fake Discord: roles, owner, administrator, and channel overwrites."""

from __future__ import annotations

import pytest

from bot.fakes.discord import Clock, Perm, World, base_permissions, channel_permissions
from bot.fakes.discord.permissions import ALL_PERMISSIONS, EVERYONE_DEFAULT, apply_overwrites
from bot.fakes.discord.snowflakes import SnowflakeMinter, snowflake_time


@pytest.fixture
def world() -> World:
    clock = Clock()
    return World(SnowflakeMinter(clock), clock)


def test_base_permissions_are_everyone_or_roles(world: World) -> None:
    guild = world.add_guild("g")
    helpers = world.add_role(guild, "helpers", Perm.MANAGE_MESSAGES)
    alice = world.add_member(guild, "alice", roles=[helpers])
    assert base_permissions(guild, alice) == EVERYONE_DEFAULT | Perm.MANAGE_MESSAGES


def test_owner_and_administrator_get_everything(world: World) -> None:
    guild = world.add_guild("g", everyone_permissions=0)
    admins = world.add_role(guild, "admins", Perm.ADMINISTRATOR)
    admin = world.add_member(guild, "admin", roles=[admins])
    owner = guild.members[guild.owner_id]
    channel = next(iter(guild.channels.values()))
    world.set_overwrite(channel, guild.everyone, deny=Perm.VIEW_CHANNEL)
    world.set_overwrite(channel, admin, deny=Perm.VIEW_CHANNEL)
    assert base_permissions(guild, owner) == ALL_PERMISSIONS
    assert channel_permissions(guild, channel, admin) == ALL_PERMISSIONS
    assert channel_permissions(guild, channel, owner) == ALL_PERMISSIONS


def test_overwrites_apply_everyone_then_roles_then_member(world: World) -> None:
    guild = world.add_guild("g")
    channel = next(iter(guild.channels.values()))
    muted = world.add_role(guild, "muted")
    speakers = world.add_role(guild, "speakers")
    bob = world.add_member(guild, "bob", roles=[muted, speakers])
    world.set_overwrite(channel, guild.everyone, deny=Perm.ADD_REACTIONS)
    world.set_overwrite(channel, muted, deny=Perm.SEND_MESSAGES)
    # A role allow beats another role's deny: role overwrites are combined before applying.
    world.set_overwrite(channel, speakers, allow=Perm.SEND_MESSAGES | Perm.ADD_REACTIONS)
    have = channel_permissions(guild, channel, bob)
    assert have & Perm.SEND_MESSAGES and have & Perm.ADD_REACTIONS
    world.set_overwrite(channel, bob, deny=Perm.SEND_MESSAGES)
    assert not channel_permissions(guild, channel, bob) & Perm.SEND_MESSAGES


def test_implicit_denials(world: World) -> None:
    guild = world.add_guild("g")
    channel = next(iter(guild.channels.values()))
    carol = world.add_member(guild, "carol")
    world.set_overwrite(channel, carol, deny=Perm.SEND_MESSAGES)
    have = channel_permissions(guild, channel, carol)
    assert not have & (Perm.ATTACH_FILES | Perm.EMBED_LINKS)
    assert have & Perm.READ_MESSAGE_HISTORY
    world.set_overwrite(channel, carol, deny=Perm.VIEW_CHANNEL)
    assert channel_permissions(guild, channel, carol) == 0


def test_apply_overwrites_order() -> None:
    base = int(Perm.SEND_MESSAGES)
    assert apply_overwrites(base, everyone=(0, Perm.SEND_MESSAGES), roles=[], member=None) == 0
    restored = apply_overwrites(
        base, everyone=(0, Perm.SEND_MESSAGES), roles=[(Perm.SEND_MESSAGES, 0)], member=None
    )
    assert restored == Perm.SEND_MESSAGES
    denied = apply_overwrites(
        base, everyone=None, roles=[(Perm.SEND_MESSAGES, 0)], member=(0, Perm.SEND_MESSAGES)
    )
    assert denied == 0


def test_snowflakes_carry_the_clock_time() -> None:
    clock = Clock()
    ids = SnowflakeMinter(clock)
    first, second = ids.mint(), ids.mint()
    assert second > first
    assert abs(snowflake_time(first) - clock.now()) < 1
    old = ids.mint(at=clock.now() - 899)
    assert abs(snowflake_time(old) - (clock.now() - 899)) < 1
    clock.advance(60)
    assert snowflake_time(ids.mint()) - snowflake_time(first) >= 59

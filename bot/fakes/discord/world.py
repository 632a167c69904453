"""Building the fake's world: the bot, guilds, roles, channels, members, with sensible defaults."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.fakes.discord.models import (
    OVERWRITE_MEMBER,
    OVERWRITE_ROLE,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
    Guild,
    Member,
    Overwrite,
    Role,
    User,
)
from bot.fakes.discord.permissions import EVERYONE_DEFAULT, Perm
from bot.fakes.discord.shards import snowflake_on_shard
from bot.fakes.discord.snowflakes import Clock, SnowflakeMinter

# What the bot's managed role grants: exactly what the product needs in its output channel.
BOT_ROLE_DEFAULT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.ADD_REACTIONS
    | Perm.READ_MESSAGE_HISTORY
    | Perm.SEND_MESSAGES_IN_THREADS
)
MODERATORS_DEFAULT = Perm.MANAGE_MESSAGES | Perm.MODERATE_MEMBERS


@dataclass(frozen=True)
class DefaultWorld:
    """Handles on the default guild "Test Server" and its people."""

    guild: Guild
    general: Channel
    everyone: Role
    moderators: Role
    bot_role: Role
    owner: Member
    alice: Member
    bob: Member
    moderator: Member
    bot_member: Member


class World:
    """Everything the fake Discord knows: users, guilds and the bot application."""

    def __init__(self, ids: SnowflakeMinter, clock: Clock, *, bot_name: str = "Kling Omni") -> None:
        self._ids = ids
        self._clock = clock
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.app_owner = self.add_user("app-owner")
        self.bot = self.add_user(bot_name, is_bot=True)
        self.app_id = self.bot.id  # Discord gives modern bots application ID == bot user ID

    def add_user(self, username: str, *, is_bot: bool = False) -> User:
        """A new account, not yet in any guild."""
        user = User(id=self._ids.mint(), username=username, is_bot=is_bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        premium_tier: int = 0,
        everyone_permissions: int = EVERYONE_DEFAULT,
        bot_permissions: int | None = BOT_ROLE_DEFAULT,
        channel_name: str | None = "general",
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild with @everyone, the owner, the bot (unless ``bot_permissions`` is None);
        ``shard=(i, n)``: an ID whose events go to shard ``i`` of ``n``."""
        guild_id = self._ids.mint() if shard is None else snowflake_on_shard(self._ids, *shard)
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = Guild(id=guild_id, name=name, owner_id=owner.id, premium_tier=premium_tier)
        guild.roles[guild_id] = Role(
            id=guild_id, guild_id=guild_id, name="@everyone", permissions=everyone_permissions
        )
        self.guilds[guild_id] = guild
        self.add_member(guild, owner)
        if channel_name is not None:
            self.add_channel(guild, channel_name)
        if bot_permissions is not None:
            bot_role = self.add_role(guild, self.bot.username, bot_permissions, managed=True)
            self.add_member(guild, self.bot, roles=[bot_role])
        return guild

    def add_role(
        self,
        guild: Guild,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        managed: bool = False,
    ) -> Role:
        """A role placed above the existing ones."""
        role = Role(
            id=self._ids.mint(),
            guild_id=guild.id,
            name=name,
            permissions=int(permissions),
            position=len(guild.roles),
            mentionable=mentionable,
            managed=managed,
        )
        guild.roles[role.id] = role
        return role

    def add_channel(
        self,
        guild: Guild,
        name: str,
        *,
        overwrites: Iterable[Overwrite] = (),
        channel_type: int = 0,
    ) -> Channel:
        """A text channel (or another type) at the bottom of the list."""
        channel = Channel(
            id=self._ids.mint(),
            guild_id=guild.id,
            name=name,
            type=channel_type,
            position=len(guild.channels),
            overwrites=list(overwrites),
        )
        guild.channels[channel.id] = channel
        return channel

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: Member | None = None,
        archived: bool = False,
        locked: bool = False,
        private: bool = False,
    ) -> Channel:
        """A thread in a text channel, or a post in a forum (a thread whose parent is a forum)."""
        guild = self.guilds[parent.guild_id]
        thread = Channel(
            id=self._ids.mint(),
            guild_id=guild.id,
            name=name,
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            parent_id=parent.id,
            owner_id=guild.owner_id if owner is None else owner.id,
            archived=archived,
            locked=locked,
            archived_at=self._clock.now(),
        )
        guild.threads[thread.id] = thread
        return thread

    def add_member(
        self,
        guild: Guild,
        user: User | str,
        *,
        roles: Iterable[Role] = (),
        nick: str | None = None,
    ) -> Member:
        """Make a user (or a new user of that name) a member of the guild."""
        if isinstance(user, str):
            user = self.add_user(user)
        member = Member(
            user=user,
            guild_id=guild.id,
            role_ids=[r.id for r in roles],
            nick=nick,
            joined_at=self._clock.now(),
        )
        guild.members[user.id] = member
        return member

    def set_overwrite(
        self, channel: Channel, target: Role | Member, *, allow: int = 0, deny: int = 0
    ) -> Overwrite:
        """Set (replace) the channel's overwrite for a role or member."""
        target_type = OVERWRITE_ROLE if isinstance(target, Role) else OVERWRITE_MEMBER
        channel.overwrites = [
            o for o in channel.overwrites if not (o.id == target.id and o.type == target_type)
        ]
        overwrite = Overwrite(id=target.id, type=target_type, allow=int(allow), deny=int(deny))
        channel.overwrites.append(overwrite)
        return overwrite

    def guild_of_channel(self, channel_id: int) -> tuple[Guild, Channel] | None:
        """The guild and channel for a channel ID, if it exists."""
        for guild in self.guilds.values():
            channel = guild.channel_or_thread(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def bot_member(self, guild: Guild) -> Member | None:
        """The bot's own member in a guild (None if the bot is not in it)."""
        return guild.members.get(self.bot.id)

    def populate_default(self) -> DefaultWorld:
        """One guild "Test Server" (tier 0) with #general, Moderators, an owner and members."""
        owner = self.add_user("owner")
        guild = self.add_guild("Test Server", owner=owner)
        general = next(iter(guild.channels.values()))
        moderators = self.add_role(guild, "Moderators", MODERATORS_DEFAULT)
        bot_member = guild.members[self.bot.id]
        bot_role = guild.roles[bot_member.role_ids[0]]
        return DefaultWorld(
            guild=guild,
            general=general,
            everyone=guild.everyone,
            moderators=moderators,
            bot_role=bot_role,
            owner=guild.members[owner.id],
            alice=self.add_member(guild, "alice"),
            bob=self.add_member(guild, "bob"),
            moderator=self.add_member(guild, "mod", roles=[moderators]),
            bot_member=bot_member,
        )

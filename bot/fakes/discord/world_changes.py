"""Changes a test makes to the fake Discord's world while the bot runs: threads archived,
permissions and overwrites changed, a server boosted; each announced to the bot as Discord
announces it."""

from __future__ import annotations

from bot.fakes.discord.models import Channel, Guild, Member, Role
from bot.fakes.discord.snowflakes import Clock
from bot.fakes.discord.world import World


class WorldChanges:
    """The live-world part of `FakeDiscord`'s control API."""

    clock: Clock

    @property
    def world(self) -> World:
        raise NotImplementedError  # FakeDiscord's

    def dispatch(self, event: str, data: dict[str, object]) -> None:
        raise NotImplementedError  # FakeDiscord's: to the gateway

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: Member | None = None,
        archived: bool = False,
        locked: bool = False,
    ) -> Channel:
        """A thread in a channel (or a post in a forum); an active one is announced with
        THREAD_CREATE, an archived one the bot meets only when it is used."""
        thread = self.world.add_thread(parent, name, owner=owner, archived=archived, locked=locked)
        if not archived:
            self.dispatch("THREAD_CREATE", {**thread.thread_payload(), "newly_created": True})
        return thread

    def archive_thread(self, thread: Channel, *, locked: bool = False) -> None:
        """A moderator (or inactivity) archives a thread, maybe locking it (THREAD_UPDATE)."""
        thread.archived, thread.locked = True, locked
        thread.archived_at = self.clock.now()
        self.dispatch("THREAD_UPDATE", thread.thread_payload())

    def set_role_permissions(self, role: Role, permissions: int) -> None:
        """Change a role's permissions (GUILD_ROLE_UPDATE)."""
        role.permissions = int(permissions)
        self.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": role.payload()})

    def set_overwrite(
        self, channel: Channel, target: Role | Member, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set a channel overwrite for a role or member (CHANNEL_UPDATE)."""
        self.world.set_overwrite(channel, target, allow=allow, deny=deny)
        self.dispatch("CHANNEL_UPDATE", channel.payload())

    def set_premium_tier(self, guild: Guild, tier: int) -> None:
        """Change a guild's boost tier, hence its upload limit (GUILD_UPDATE)."""
        guild.premium_tier = tier
        self.dispatch("GUILD_UPDATE", guild.update_payload())

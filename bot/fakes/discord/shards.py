"""Sharding as Discord does it: which shard a guild's events go to, which IDENTIFY it refuses.

A guild belongs to shard ``(guild_id >> 22) % shard_count``; direct messages (no guild) to
shard 0. An IDENTIFY without ``shard`` is shard ``[0, 1]``. Discord closes a connection whose
shard is invalid (an id outside ``0..count-1``, or a count other than the one the live
connections use) with 4010, and one with fewer shards than the bot must have with 4011
(https://docs.discord.com/developers/topics/opcodes-and-status-codes#gateway-close-event-codes).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.fakes.discord.models import JSON
from bot.fakes.discord.snowflakes import DISCORD_EPOCH_MS, SnowflakeMinter

CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011
CLOSE_REASONS = {
    CLOSE_INVALID_SHARD: "Invalid shard.",
    CLOSE_SHARDING_REQUIRED: "Sharding required.",
}
# Events about a guild itself name it by "id"; every other guild event has "guild_id".
_GUILD_ITSELF = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events when the bot runs ``shard_count`` shards."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class Shard:
    """``[id, count]`` of an IDENTIFY: this connection gets the events of shard ``id``."""

    id: int
    count: int

    def serves(self, guild_id: int | None) -> bool:
        """Whether a guild's events (``None``: a direct message's) come to this shard."""
        return self.id == (0 if guild_id is None else shard_of(guild_id, self.count))

    def payload(self) -> list[int]:
        """``[id, count]``, as IDENTIFY sends it and READY echoes it."""
        return [self.id, self.count]


UNSHARDED = Shard(0, 1)
MALFORMED = Shard(-1, 0)  # a ``shard`` that is not two whole numbers: refused as invalid


def requested_shard(identify: JSON) -> Shard:
    """The shard an IDENTIFY asks for: none given is ``[0, 1]``, a malformed one ``MALFORMED``."""
    value = identify.get("shard")
    if value is None:
        return UNSHARDED
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        return MALFORMED
    return Shard(value[0], value[1])


def refusal(shard: Shard, live_counts: set[int], required_count: int) -> int | None:
    """The close code Discord answers an IDENTIFY for ``shard`` with, or None if accepted.

    ``live_counts``: the shard counts of the connections already live; ``required_count``:
    the fewest shards the bot may run (0: no minimum).
    """
    if not 0 <= shard.id < shard.count or live_counts - {shard.count}:
        return CLOSE_INVALID_SHARD
    if shard.count < required_count:
        return CLOSE_SHARDING_REQUIRED
    return None


def event_guild_id(event: str, data: JSON) -> int | None:
    """The guild an event is about (None: a direct message, or no guild at all)."""
    value = data.get("id" if event in _GUILD_ITSELF else "guild_id")
    return int(value) if value else None


def snowflake_on_shard(ids: SnowflakeMinter, shard_id: int, shard_count: int) -> int:
    """A new snowflake from a moment of the last ``shard_count`` milliseconds, chosen so the
    guild it names lands on ``shard_id`` (a guild's shard depends on its creation time)."""
    if not 0 <= shard_id < shard_count:
        raise ValueError(f"shard {shard_id} is not one of 0 to {shard_count - 1}")
    snowflake = ids.mint()
    behind_ms = (shard_of(snowflake, shard_count) - shard_id) % shard_count
    if behind_ms == 0:
        return snowflake
    stamp_ms = (snowflake >> 22) - behind_ms + DISCORD_EPOCH_MS  # Unix ms, on the shard
    return ids.mint(at=(stamp_ms + 0.5) / 1000)  # half a millisecond in: no rounding down

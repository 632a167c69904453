"""This process's shards: which of them are connected, and how the start-up line names them.

discord.py's `AutoShardedBot` runs the shards (one websocket each); the settings say how many
there are in all (`discord.shard_count`, 0: as many as Discord recommends) and which this
process runs (`discord.shard_ids`, empty: all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from discord.ext import commands

from bot.settings import DiscordSettings


def shard_options(settings: DiscordSettings) -> dict[str, Any]:
    """`AutoShardedBot`'s shard options: no `shard_count` makes discord.py ask Discord
    (`GET /gateway/bot`) how many to run; no `shard_ids` runs them all."""
    options: dict[str, Any] = {"shard_count": settings.shard_count or None}
    if settings.shard_ids:
        options["shard_ids"] = list(settings.shard_ids)
    return options


class ShardLinks:
    """Which shards have a live gateway session, told by discord.py's shard events."""

    def __init__(self, bot: commands.AutoShardedBot) -> None:
        self._up: set[int] = set()
        bot.add_listener(self._connected, "on_shard_connect")
        bot.add_listener(self._connected, "on_shard_resumed")
        bot.add_listener(self._disconnected, "on_shard_disconnect")

    async def _connected(self, shard_id: int) -> None:
        self._up.add(shard_id)

    async def _disconnected(self, shard_id: int) -> None:
        self._up.discard(shard_id)  # discord.py reconnects it by itself

    def are_all_up(self, shard_ids: Iterable[int]) -> bool:
        """Whether every one of `shard_ids` is connected (none given: not connected)."""
        wanted = set(shard_ids)
        return bool(wanted) and wanted <= self._up


def describe_shards(shard_ids: Sequence[int], shard_count: int | None) -> str:
    """`shard 0 of 1`, `shards 0 and 2 of 4`, `shards 0 to 15 of 16` (runs of three or more
    consecutive shards are written as a range)."""
    if not shard_ids or not shard_count:
        return "no shards yet"
    runs: list[list[int]] = []
    for shard_id in sorted(shard_ids):
        if runs and shard_id == runs[-1][-1] + 1:
            runs[-1].append(shard_id)
        else:
            runs.append([shard_id])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]} to {run[-1]}")
        else:
            parts.extend(map(str, run))
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    noun = "shard" if len(shard_ids) == 1 else "shards"
    return f"{noun} {listed} of {shard_count}"


CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011


def shard_refusal(close_code: int | None) -> str | None:
    """What an operator reads when Discord closed a shard for the shard settings (else None)."""
    if close_code == CLOSE_INVALID_SHARD:
        return (
            "Discord refused a shard (4010 Invalid shard): every process of the bot must have "
            "the same discord.shard_count, and its discord.shard_ids numbers from 0 to "
            "shard_count - 1."
        )
    if close_code == CLOSE_SHARDING_REQUIRED:
        return (
            "Discord wants the bot to run more shards (4011 Sharding required): set "
            "discord.shard_count = 0 to run as many as Discord recommends, or a larger count "
            "in every process."
        )
    return None

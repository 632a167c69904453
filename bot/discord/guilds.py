"""Servers this process does not see: those of shards another process runs.

With several processes, a task made in a server of shard 1 may be delivered (or its status
edited) by the process running shard 0, which has no such server in its cache. What the post
depends on (the server's upload limit, from its boost tier, and its preferred language) is then
asked of Discord once and kept a few minutes.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import discord

from bot.discord.uploads import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

KEEP_S = 600.0  # a fetched server's boost tier and language change rarely


class GuildDirectory:
    """A server by id: from the cache of this process's shards, else from Discord (kept)."""

    def __init__(
        self, client: discord.Client, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._clock = clock
        self._fetched: dict[int, tuple[float, discord.Guild]] = {}

    async def guild(self, guild_id: int | None) -> discord.Guild | None:
        """The server, or None when there is none or Discord can't say right now (the caller
        then assumes an unboosted server in English)."""
        if guild_id is None:
            return None
        cached = self._client.get_guild(guild_id)
        if cached is not None:
            return cached
        kept = self._fetched.get(guild_id)
        if kept is not None and self._clock() - kept[0] < KEEP_S:
            return kept[1]
        try:
            fetched = await self._client.fetch_guild(guild_id)
        except (discord.HTTPException, *TRANSIENT_ERRORS) as error:
            log.info("server guild_id=%s not known here and not fetched: %s", guild_id, error)
            return None
        self._fetched[guild_id] = (self._clock(), fetched)
        return fetched


_DIRECTORIES: weakref.WeakKeyDictionary[discord.Client, GuildDirectory] = (
    weakref.WeakKeyDictionary()
)


def directory_of(client: discord.Client) -> GuildDirectory:
    """The client's one directory, shared by whatever posts for it (one fetch per server)."""
    directory = _DIRECTORIES.get(client)
    if directory is None:
        directory = _DIRECTORIES[client] = GuildDirectory(client)
    return directory

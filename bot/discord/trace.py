"""What Discord's answers say besides their bodies: the time (`Date`) and, after a status
edit, that channel's edit budget (`X-RateLimit-*`). Read from discord.py's own HTTP session
through the `http_trace` option, so no request is made for it.
"""

from __future__ import annotations

import asyncio
import re
import time
from types import SimpleNamespace

import aiohttp

from bot.discord.pacing import EditPacer, read_headers
from bot.discord.time import DiscordClock

_EDIT_PATH = re.compile(r"/channels/(\d+)/messages/\d+$")


def discord_trace(clock: DiscordClock, pacer: EditPacer) -> aiohttp.TraceConfig:
    """An aiohttp trace for discord.py's session (`Client(http_trace=…)`)."""

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        headers = params.response.headers
        if (date := headers.get("Date")) is not None:
            clock.learn(date, time.time())
        if params.method != "PATCH":
            return
        match = _EDIT_PATH.search(params.url.path)
        said = read_headers(headers) if match is not None else None
        if match is not None and said is not None:
            pacer.learn(int(match[1]), said, asyncio.get_running_loop().time())

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace

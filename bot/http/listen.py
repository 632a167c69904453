"""Serving an aiohttp application, for the bot's HTTP server and the loopback fakes.

`serve` binds an application and says the URL it is reached at (with the port the system gave
for port 0); `Served` makes anything with `start()` and `stop()` an `async with` block.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from aiohttp import web


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    handler_cancellation: bool = False,
) -> tuple[web.AppRunner, str]:
    """Serve `app` on host:port: its runner (to `cleanup()`) and `http://host:port`.

    A failed bind (the port is taken, the address is not this machine's) leaves nothing open.
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=handler_cancellation,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


class Served(abc.ABC):
    """Started when an `async with` block begins, stopped when it ends."""

    @abc.abstractmethod
    async def start(self) -> object:
        """Bind and serve."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop serving (idempotent)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

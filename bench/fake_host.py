"""The fake CometAPI in a process of its own, for benchmarks that measure the bot's process alone.

The event-loop lag and the memory figures need the API elsewhere, as in production: in the same
process its request handling would count as the bot's lag, and its buffers as the bot's memory.
`FakeHost` runs `python -m bot.fakes.comet --stop-at-eof` for the length of a `with` block.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType


class FakeHost:
    """`async with FakeHost(*options) as base_url:` runs the fake (with these options) meanwhile."""

    def __init__(self, *options: str) -> None:
        self._options = options
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> str:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.fakes.comet",
            "--port",
            "0",
            "--seed",
            "0",
            "--stop-at-eof",
            *self._options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 30)
        if not line.startswith(b"http"):
            raise RuntimeError(f"the fake host did not start (it said {line!r})")
        return line.decode().strip()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the host stops at the end of its stdin
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()  # our own child, by its handle
            await process.wait()

"""The fake CometAPI in a process of its own, for benchmarks that measure the bot's process alone.

`python -m bench.fake_host [--max-concurrent-tasks N] [--processing-s S] [--result-size-bytes B]`

Prints its base URL on one line, then serves until SIGTERM or until its stdin closes, so it never
outlives a parent that died. The event-loop lag and the memory figures need the API elsewhere, as
in production: in the same process its request handling would count as the bot's lag, and its
buffers as the bot's memory. `FakeHost` starts and stops it from a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from types import TracebackType

from bot.fakes.comet import FakeCometAPI, FakeCometConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The fake's settings that the benchmarks change."""
    defaults = FakeCometConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.fake_host", description=__doc__)
    parser.add_argument("--max-concurrent-tasks", type=int, default=defaults.max_concurrent_tasks)
    parser.add_argument("--submitted-s", type=float, default=defaults.submitted_s)
    parser.add_argument("--processing-s", type=float, default=defaults.processing_s)
    parser.add_argument("--result-size-bytes", type=int, default=None)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve on a free loopback port until SIGTERM or the end of stdin."""
    config = FakeCometConfig(
        max_concurrent_tasks=args.max_concurrent_tasks,
        submitted_s=args.submitted_s,
        processing_s=args.processing_s,
        result_size_bytes=args.result_size_bytes,
        seed=0,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def wait_for_end_of_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    # A daemon thread: a blocked read must not keep the process alive after SIGTERM.
    threading.Thread(target=wait_for_end_of_stdin, daemon=True).start()
    async with FakeCometAPI(config) as fake:
        print(fake.base_url, flush=True)
        await stop.wait()


class FakeHost:
    """`async with FakeHost(*options) as base_url:` runs `python -m bench.fake_host` meanwhile."""

    def __init__(self, *options: str) -> None:
        self._options = options
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> str:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fake_host",
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


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

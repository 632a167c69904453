"""Run the fake CometAPI on its own: `python -m bot.fakes.comet --port 8765`.

Prints one line, the base URL, then serves until Ctrl-C or SIGTERM (or, with `--stop-at-eof`,
until its stdin closes: started by another program, it then never outlives that program).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading

from .config import QUERY_SHAPES, FakeCometConfig
from .server import FakeCometAPI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every option maps to one `FakeCometConfig` field."""
    defaults = FakeCometConfig()
    parser = argparse.ArgumentParser(prog="python -m bot.fakes.comet", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--api-key", default=defaults.api_key, help="the Bearer key it accepts")
    parser.add_argument("--shape", choices=QUERY_SHAPES, default=defaults.query_shape)
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--failure-rate", type=float, default=defaults.failure_rate)
    parser.add_argument("--submitted-s", type=float, default=defaults.submitted_s)
    parser.add_argument("--processing-s", type=float, default=defaults.processing_s)
    parser.add_argument("--max-concurrent-tasks", type=int, default=defaults.max_concurrent_tasks)
    parser.add_argument("--result-size-bytes", type=int, default=None, help="pad results to this")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--callback-shape",
        choices=("flat", "wrapped"),
        default=defaults.callback_shape,
        help="how callbacks to a create's callback_url look",
    )
    parser.add_argument(
        "--skip-callbacks", action="store_true", help="never deliver callbacks (unreachable URL)"
    )
    parser.add_argument(
        "--stop-at-eof", action="store_true", help="also stop when standard input closes"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the fake, print its base URL, and wait for SIGINT or SIGTERM."""
    config = FakeCometConfig(
        api_key=args.api_key,
        query_shape=args.shape,
        fault_rate=args.fault_rate,
        failure_rate=args.failure_rate,
        submitted_s=args.submitted_s,
        processing_s=args.processing_s,
        max_concurrent_tasks=args.max_concurrent_tasks,
        result_size_bytes=args.result_size_bytes,
        seed=args.seed,
        callback_shape=args.callback_shape,
        skip_callbacks=args.skip_callbacks,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows' proactor loop; Ctrl-C then ends asyncio.run instead.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    if args.stop_at_eof:

        def wait_for_end_of_stdin() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        # A daemon thread: a blocked read must not keep the process alive after a signal.
        threading.Thread(target=wait_for_end_of_stdin, daemon=True).start()
    fake = FakeCometAPI(config)
    await fake.start(args.host, args.port)
    try:
        print(fake.base_url, flush=True)
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(argv)
    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(message)s")
        logging.getLogger(__package__).setLevel(logging.DEBUG)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bot.fakes.discord --port N``: run the fake standalone and print its URLs."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from bot.fakes.discord.server import DEFAULT_TOKEN, FakeDiscord


async def _serve(port: int, token: str) -> None:
    fake = await FakeDiscord(port=port, token=token).start()
    default = fake.default
    print(
        json.dumps(
            {
                "api_base": fake.api_base,
                "gateway_url": fake.gateway_url,
                "control": f"{fake.base_url}/_fake/state",
                "token": fake.token,
                "guild_id": str(default.guild.id),
                "channel_id": str(default.general.id),
                "members": {
                    m.user.username: str(m.id)
                    for m in (default.owner, default.alice, default.bob, default.moderator)
                },
            },
            indent=2,
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main() -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bot.fakes.discord", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token the fake accepts")
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.token))


if __name__ == "__main__":
    main()

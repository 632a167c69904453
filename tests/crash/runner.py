"""The crash test's subject: a real process that queues N paid tasks once and runs them to the end.

    python -m tests.crash.runner --config PATH --tasks N --out DIR --tag TAG
        [--time-scale S --time-origin ISO]

The tasks have fixed external ids, and creating one is idempotent in the store, so a restart after
kill -9 finds them (charged once) and only resumes. The engine is the one `bot.cli.submit`
builds for the terminal and the bot. Prints `ready` once the engine runs, `<task id> <state>` after
every state change, and `settled` when every task has ended.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bot.domain.logs import setup_logging
from bot.domain.records import NewTask, QuotaCheck, TaskRecord
from bot.domain.request import make_request
from bot.engine.assembly import build_engine, engine_lock
from bot.engine.clock import ScaledClock
from bot.engine.courier import FileDeliverer
from bot.settings.reading import load_settings
from bot.store.sql_store import SqlStore

GUILD_ID = 1
CHANNEL_ID = 2
MEMBERS = (101, 102, 103)
FAILING = 5  # the fake fails this one after accepting it (its prompt has the fail keyword)
MODERATED = 6  # the fake refuses this one at create (its prompt has the moderation keyword)
QUOTA = QuotaCheck(
    limit=100,
    window="day",
    window_start=datetime(2000, 1, 1, tzinfo=UTC),
    resets_at=datetime(2100, 1, 1, tzinfo=UTC),
)


def prompt_of(index: int) -> str:
    """Task `index`'s prompt: a paper boat, or one the fake fails or refuses."""
    if index == FAILING:
        return f"paper boat {index} FAILME"
    if index == MODERATED:
        return f"paper boat {index} MODERATEME"
    return f"paper boat {index} in the rain"


def crash_task(index: int, tag: str) -> NewTask:
    """Task `index` of the run tagged `tag`: always the same member, request and external id."""
    request = make_request({"prompt": prompt_of(index), "aspect_ratio": "16:9", "duration_s": 5})
    return NewTask(
        origin="discord",
        request=request,
        cost=1,
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        user_id=MEMBERS[index % len(MEMBERS)],
        external_id=f"kob-crash-{tag}-{index}",
    )


class PrintStates:
    """Prints every state change on stdout, for the test to time its kills by."""

    async def task_changed(self, task: TaskRecord) -> None:
        """One `<id> <state>` line, flushed at once."""
        print(f"{task.id} {task.state.value}", flush=True)


async def run(args: argparse.Namespace) -> None:
    """Queue the tasks (once), resume whatever a kill interrupted, and run until all ended."""
    settings, _ = load_settings(args.config, os.environ)
    setup_logging("INFO", secrets=[settings.omni.api_key.get_secret_value()])
    # Every restart of a scenario runs on one compressed time, from the scenario's start.
    clock = ScaledClock(args.time_scale, origin=datetime.fromisoformat(args.time_origin))
    async with engine_lock(settings.storage.database):
        store = await SqlStore.open(settings.storage.database)
        try:
            async with aiohttp.ClientSession() as session:
                engine = build_engine(
                    settings,
                    session,
                    store,
                    FileDeliverer(Path(args.out)),
                    PrintStates(),
                    clock=clock,
                )
                tasks = [
                    await store.create_task(crash_task(i, args.tag), now=clock.now(), quota=QUOTA)
                    for i in range(args.tasks)
                ]
                await engine.start()
                print("ready", flush=True)
                try:
                    await engine.wait_until_settled([task.id for task in tasks])
                finally:
                    await engine.stop()
        finally:
            await store.close()
    print("settled", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; exits 0 once every task has ended."""
    parser = argparse.ArgumentParser(prog="python -m tests.crash.runner", description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--out", required=True, help="the directory videos are delivered to")
    parser.add_argument("--tag", required=True, help="makes the external ids unique per test")
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--time-origin", default=datetime.now(UTC).isoformat())
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

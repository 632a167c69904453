"""`kling-bot`: run | check | demo | submit | tasks | task | db | health | invite. Parses
arguments, calls into `bot/`."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bot.cli.common import add_config_option, config_source, fail, load, read
from bot.cli.db_commands import add_db
from bot.cli.online_check import (
    CheckFailed,
    check_online,
    client_id_from_token,
    discord_application,
)
from bot.cli.preflight import preflight_problems
from bot.cli.submit_command import add_submit
from bot.cli.table import STATE_MEANINGS
from bot.cli.task_commands import cmd_task, cmd_tasks, positive, task_states
from bot.domain.about import NAME, bot_version
from bot.domain.invite import PERMISSIONS, SCOPES, invite_url
from bot.domain.logs import secrets_of, setup_logging
from bot.engine.assembly import EngineBusy
from bot.features.health import judge_health_file, probe_http, probe_url
from bot.settings import Settings
from bot.settings.database import health_file_for
from bot.settings.mistakes import describe_settings


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and say everything that is wrong at once, secrets masked."""
    report = read(args)
    if report is None:
        return 2
    print(f"Configuration: {config_source(report)}")
    if report.settings is not None:
        for line in describe_settings(report.settings, report.secret_origins):
            print(f"  {line}")
    problems = preflight_problems(report)
    for problem in problems:
        fail(problem)
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        print(f"✗ {count}: fix {'it' if len(problems) == 1 else 'them'} and run check again.")
        return 2
    print("✓ The configuration is valid.")
    if getattr(args, "online", False) and report.settings is not None:
        return _check_online(report.settings)
    return 0


def _check_online(settings: Settings) -> int:
    """Ask Discord, CometAPI and the database; 0 when all answered as they should, else 1."""
    results = asyncio.run(check_online(settings))
    for result in results:
        if result.is_ok:
            print(f"✓ {result.name}: {result.message}")
        else:
            fail(f"{result.name}: {result.message}")
    return 0 if all(result.is_ok for result in results) else 1


def cmd_invite(args: argparse.Namespace) -> int:
    """Print the invite URL with exactly the permissions and scopes the bot needs."""
    client_id = args.client_id
    if client_id is None:
        settings = load(args)
        if settings is None:
            return 2
        client_id = client_id_from_token(settings.discord.token.get_secret_value())
        if client_id is None and settings.discord.token.get_secret_value():
            try:
                client_id = asyncio.run(_application_id(settings))
            except CheckFailed as failure:
                fail(str(failure))
                return 1
    if client_id is None:
        fail(
            "No bot token to read the application id from: set DISCORD_TOKEN (or discord.token), "
            "or give --client-id (Developer Portal → your application → General Information)."
        )
        return 2
    print(invite_url(client_id))
    print("Permissions: " + ", ".join(PERMISSIONS) + ".")
    print("Scopes: " + " and ".join(SCOPES) + ".")
    return 0


async def _application_id(settings: Settings) -> int:
    async with aiohttp.ClientSession() as session:
        application = await discord_application(settings, session)
    return int(str(application["id"]))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot until SIGINT/SIGTERM; every task stays resumable."""
    report = read(args)
    if report is None:
        return 2
    problems = preflight_problems(report)
    for problem in problems:
        fail(problem)
    if problems or report.settings is None:
        return 2
    settings = report.settings
    setup_logging(
        "DEBUG" if args.verbose else settings.logging.level,
        log_format=settings.logging.format,
        secrets=secrets_of(settings, os.environ),
    )
    # discord.py loads only for the commands that need it.
    from discord.errors import ConnectionClosed, LoginFailure, PrivilegedIntentsRequired

    from bot.discord.run import run_bot
    from bot.discord.sharding import shard_refusal
    from bot.engine.pause_points import PausePoints

    try:
        asyncio.run(
            run_bot(
                settings,
                config_source=config_source(report),
                pause_points=PausePoints.from_environment(os.environ),
            )
        )
    except EngineBusy as exc:
        fail(str(exc))
        return 2
    except LoginFailure:
        origin = report.secret_origins.get("discord.token", "the file")
        fail(
            f"Discord refused the bot token (from {origin}): copy it again from the Developer "
            "Portal (Bot → Reset Token)."
        )
        return 2
    except PrivilegedIntentsRequired:
        fail("Discord refused the gateway intents; the bot needs only guilds and reactions.")
        return 2
    except ConnectionClosed as exc:
        refused = shard_refusal(exc.code)
        if refused is None:
            raise
        fail(refused)
        return 2
    except aiohttp.ClientConnectorError as exc:
        fail(
            f"Could not reach Discord at {settings.discord.api_base} ({exc.os_error}): check "
            "the network, or discord.api_base if you changed it."
        )
        return 1
    except ConnectionError as exc:  # the store's: the message names the database, masked
        fail(f"{exc} (storage.database)")
        return 1
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the running bot is healthy, 1 (saying why) when not: Docker's HEALTHCHECK."""
    settings = load(args)
    if settings is None:
        return 2
    address = settings.http.address
    if address is not None:
        problem = probe_http(probe_url(address))
    else:
        path = health_file_for(settings.storage, settings.discord.shard_ids)
        problem = judge_health_file(path, now=datetime.now(UTC))
    if problem is not None:
        fail(f"unhealthy: {problem}")
        return 1
    print("✓ healthy")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The offline demo: both fakes and the real bot, one video, narrated."""
    from bot.cli.demo import run_demo

    return run_demo(Path(args.out), with_video=args.video)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `kling-bot` command."""
    parser = argparse.ArgumentParser(
        prog="kling-bot",
        description="Kling Omni Bot: make short videos with Kling Omni from Discord.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {bot_version()} ({NAME})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the bot")
    add_config_option(run)
    run.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    run.set_defaults(handler=cmd_run)
    check = commands.add_parser("check", help="validate the configuration")
    add_config_option(check)
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask Discord (the token), CometAPI (the key) and the database; costs nothing",
    )
    check.set_defaults(handler=cmd_check)
    invite = commands.add_parser(
        "invite", help="print the invite URL with exactly the permissions the bot needs"
    )
    invite.add_argument(
        "--client-id", type=positive, metavar="ID", help="the application id (else from the token)"
    )
    add_config_option(invite)
    invite.set_defaults(handler=cmd_invite)
    add_db(commands)
    health = commands.add_parser(
        "health",
        help="is the running bot healthy? (exit 0 or 1; for Docker's HEALTHCHECK)",
        description="Asks the bot's /healthz when [http] listen is set, else reads the health "
        "report the bot writes next to its database every few seconds.",
    )
    add_config_option(health)
    health.set_defaults(handler=cmd_health)
    demo = commands.add_parser(
        "demo", help="offline demo: the real bot against built-in fakes, one video end to end"
    )
    demo.add_argument(
        "--out", default="kling-demo.mp4", metavar="FILE", help="where to write the video"
    )
    demo.add_argument(
        "--video",
        action="store_true",
        help="edit a member's clip (made on the spot) instead of a text-to-video",
    )
    demo.set_defaults(handler=cmd_demo)
    add_submit(commands)
    tasks = commands.add_parser(
        "tasks",
        help="list the tracked tasks, newest first",
        description="The tracked tasks, newest first, from storage.database.",
        epilog="states:\n"
        + "\n".join(f"  {s.value:<14}{meaning}" for s, meaning in STATE_MEANINGS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks.add_argument(
        "--status",
        type=task_states,
        metavar="S[,S…]",
        help="only tasks in these states (below); failed, rejected, timed_out and "
        "undeliverable all ended without a video",
    )
    tasks.add_argument("--limit", type=positive, default=20, metavar="N", help="default 20")
    add_config_option(tasks)
    tasks.set_defaults(handler=cmd_tasks)
    task = commands.add_parser("task", help="one task in full, with its history")
    task.add_argument("id", type=positive, metavar="ID", help="the task's number")
    add_config_option(task)
    task.set_defaults(handler=cmd_task)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kling-bot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "submit" and args.out is not None and not (args.wait or args.fake):
        parser.error("--out needs --wait: without it the command ends once the task is sent")
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

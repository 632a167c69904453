"""`kling-bot`: run | check | demo | submit | tasks | task. Parses arguments, calls into `bot/`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bot.cli.online_check import (
    CheckFailed,
    check_online,
    client_id_from_token,
    discord_application,
)
from bot.cli.preflight import preflight_problems, storage_problems
from bot.cli.stored_tasks import list_stored, one_stored
from bot.cli.submit import SubmitOptions, build_request, run_submit
from bot.cli.table import STATE_MEANINGS, render_task, render_tasks
from bot.domain.about import NAME, bot_version
from bot.domain.errors import ConfigError, InvalidInput
from bot.domain.invite import PERMISSIONS, SCOPES, invite_url
from bot.domain.lifecycle import TaskState
from bot.domain.logs import secrets_of, setup_logging
from bot.domain.request import ASPECT_RATIOS, MODEL_NAMES, MODES, PROMPT_MAX_CHARS
from bot.engine.assembly import EngineBusy
from bot.features.health import health_file_for, judge_health_file, probe_http, probe_url
from bot.settings import (
    COMETAPI_KEY_ENV,
    ConfigReport,
    Settings,
    describe_settings,
    load_settings,
    read_config,
)
from bot.store.backup import BackupError, backup_database

EXIT_INTERRUPTED = 130  # the shell's convention for a command stopped by Ctrl-C


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $KLING_BOT_CONFIG, else config.toml)",
    )


def _fail(message: str) -> None:
    print(f"✗ {message}", file=sys.stderr)


def _load(args: argparse.Namespace) -> Settings | None:
    try:
        settings, _ = load_settings(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            _fail(problem)
        return None
    return settings


def _read(args: argparse.Namespace) -> ConfigReport | None:
    try:
        return read_config(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            _fail(problem)
        return None


def config_source(report: ConfigReport) -> str:
    """The config file read, or that there is none and what stands in for it."""
    if report.is_file:
        return str(report.path)
    return f"{report.path} (absent: defaults and environment)"


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and say everything that is wrong at once, secrets masked."""
    report = _read(args)
    if report is None:
        return 2
    print(f"Configuration: {config_source(report)}")
    if report.settings is not None:
        for line in describe_settings(report.settings, report.secret_origins):
            print(f"  {line}")
    problems = preflight_problems(report)
    for problem in problems:
        _fail(problem)
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
            _fail(f"{result.name}: {result.message}")
    return 0 if all(result.is_ok for result in results) else 1


def cmd_invite(args: argparse.Namespace) -> int:
    """Print the invite URL with exactly the permissions and scopes the bot needs."""
    client_id = args.client_id
    if client_id is None:
        settings = _load(args)
        if settings is None:
            return 2
        client_id = client_id_from_token(settings.discord.token.get_secret_value())
        if client_id is None and settings.discord.token.get_secret_value():
            try:
                client_id = asyncio.run(_application_id(settings))
            except CheckFailed as failure:
                _fail(str(failure))
                return 1
    if client_id is None:
        _fail(
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


def cmd_submit(args: argparse.Namespace) -> int:
    """Make one video from the terminal through the store, queue and tracker."""
    settings = _load(args)
    if settings is None:
        return 2
    problems = [] if args.fake else storage_problems(settings.storage)
    for problem in problems:
        _fail(problem)
    if problems:
        return 2
    key = settings.omni.api_key.get_secret_value()
    if not key and not args.fake:
        _fail(
            f"omni.api_key is empty: set {COMETAPI_KEY_ENV} or omni.api_key in the config, "
            "or add --fake to try the built-in fake API."
        )
        return 2
    options = SubmitOptions(
        prompt=args.prompt,
        model=args.model,
        mode=args.mode,
        duration=args.duration,
        aspect_ratio=args.aspect_ratio,
        images=tuple(args.image),
        first_frame=args.first_frame,
        end_frame=args.end_frame,
        elements=tuple(args.element),
        video=args.video,
        video_use=args.video_use,
        keep_sound=args.keep_sound,
        sound=args.sound,
        watermark=args.watermark,
    )
    try:
        return asyncio.run(_submit(args, settings, options))
    except KeyboardInterrupt:  # a second Ctrl-C: every state is in the database already
        _fail(
            "Interrupted. What was done is in the database; the next `kling-bot submit` or "
            "`kling-bot run` resumes it."
        )
        return EXIT_INTERRUPTED


async def _submit(args: argparse.Namespace, settings: Settings, options: SubmitOptions) -> int:
    try:
        request = await build_request(options, settings.omni)
    except InvalidInput as exc:
        _fail(exc.member_message)
        return 2
    setup_logging(
        "INFO" if args.verbose else "WARNING",
        log_format=settings.logging.format,
        secrets=secrets_of(settings),
    )
    wait = args.wait or args.fake  # the built-in fake lives only as long as this command
    try:
        outcome = await run_submit(
            settings,
            request,
            wait=wait,
            out=None if args.out is None else Path(args.out),
            on_progress=lambda line: print(line, flush=True),
            use_fake=args.fake,
        )
    except EngineBusy as exc:
        _fail(exc.member_message)
        return 2
    task = outcome.task
    database = settings.storage.database
    if outcome.was_interrupted:
        if args.fake:
            _fail(f"Stopped. Task #{task.id} ended with the built-in fake API ({task.state}).")
        else:
            _fail(
                f"Stopped waiting. Task #{task.id} ({task.state}) stays in {database}; the next "
                "`kling-bot submit` or `kling-bot run` resumes it."
            )
        return EXIT_INTERRUPTED
    if task.state is TaskState.DELIVERED:
        return 0
    if task.is_terminal:
        return 1  # the progress line said why
    print(
        f"Not waiting for the video: `kling-bot tasks` shows how task #{task.id} is doing, and "
        "the next `kling-bot submit` or `kling-bot run` follows it to the end (the video is "
        f"then kept in {settings.storage.media_dir / 'results'}).",
        file=sys.stderr,
    )
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    """List the tracked tasks in the database as a table, newest first."""
    settings = _load(args)
    if settings is None:
        return 2
    database = settings.storage.database
    try:
        listing = asyncio.run(list_stored(database, states=args.status, limit=args.limit))
    except sqlite3.DatabaseError as exc:
        _fail(f"{database} can't be read as a kling-bot database: {exc}")
        return 2
    if listing is None:
        print(
            f"No tasks: there is no database at {database.absolute()} (storage.database) yet; "
            "the bot or `kling-bot submit` creates it. Another config? Give --config PATH."
        )
        return 0
    if listing.tasks:
        print(render_tasks(listing.tasks, now=datetime.now(UTC)))
    elif args.status:
        states = " or ".join(s.value for s in args.status)
        print(f"No tasks in state {states} in {database.absolute()}.")
    else:
        print(f"No tasks yet in {database.absolute()}.")
    if listing.other_endings:
        counts = ", ".join(f"{n} {state.value}" for state, n in listing.other_endings.items())
        every = ",".join(s.value for s in (*args.status, *listing.other_endings))
        print(f"Also ended without a video: {counts} (--status {every} lists them too).")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """One task in full, with its history."""
    settings = _load(args)
    if settings is None:
        return 2
    database = settings.storage.database
    try:
        found = asyncio.run(one_stored(database, args.id))
    except sqlite3.DatabaseError as exc:
        _fail(f"{database} can't be read as a kling-bot database: {exc}")
        return 2
    if found is None:
        _fail(f"There is no task {args.id} in {database.absolute()}.")
        return 1
    task, events = found
    print(render_task(task, events, now=datetime.now(UTC)))
    return 0


def _task_states(text: str) -> list[TaskState]:
    """`--status failed,rejected` → states; a clear refusal listing the states otherwise."""
    states = []
    for part in (p.strip() for p in text.split(",")):
        try:
            states.append(TaskState(part))
        except ValueError:
            allowed = ", ".join(s.value for s in TaskState)
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a task state: use one of {allowed} (or several, comma-separated)"
            ) from None
    return states


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def _add_submit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = commands.add_parser(
        "submit",
        help="make one video from the terminal",
        description="Make one video through the same store, queue and tracker as the bot. "
        "Defaults come from the config; the API key from the config or $COMETAPI_KEY.",
    )
    submit.add_argument(
        "prompt",
        metavar="PROMPT",
        help=f"what the video shows (up to {PROMPT_MAX_CHARS} characters); refer to inputs as "
        "<<<image_1>>>, <<<element_1>>>, <<<video_1>>>",
    )
    submit.add_argument("--model", choices=MODEL_NAMES)
    submit.add_argument("--mode", choices=MODES, help="std (720p) or pro (1080p)")
    submit.add_argument("--duration", type=int, metavar="SECONDS")
    submit.add_argument(
        "--aspect-ratio", choices=ASPECT_RATIOS, help="not used with a first frame or an edit"
    )
    inputs = submit.add_argument_group("inputs (a local .jpg/.png of at most 10 MB, or a URL)")
    inputs.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="a reference image; repeat for more (<<<image_N>>> is the Nth)",
    )
    inputs.add_argument("--first-frame", metavar="PATH_OR_URL")
    inputs.add_argument("--end-frame", metavar="PATH_OR_URL", help="needs --first-frame")
    inputs.add_argument(
        "--element",
        action="append",
        default=[],
        metavar="ID",
        help="a Kling element id (repeat, or separate with commas)",
    )
    inputs.add_argument("--video", metavar="URL", help="a video reachable by URL (mp4/mov)")
    inputs.add_argument(
        "--video-use", choices=("edit", "reference"), help="edit the video (default) or follow it"
    )
    inputs.add_argument("--keep-sound", action="store_true", help="keep the video's own sound")
    submit.add_argument("--sound", action="store_true", help="generate sound")
    submit.add_argument("--watermark", action="store_true")
    submit.add_argument(
        "--wait", action="store_true", help="follow the task to its end and download the video"
    )
    submit.add_argument(
        "--out", metavar="FILE", help="with --wait: where the video goes (default task-<id>.mp4)"
    )
    submit.add_argument(
        "--fake",
        action="store_true",
        help="use the built-in fake API: offline, no key needed (implies --wait)",
    )
    _add_config_option(submit)
    submit.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    submit.set_defaults(handler=cmd_submit)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot until SIGINT/SIGTERM; every task stays resumable."""
    report = _read(args)
    if report is None:
        return 2
    problems = preflight_problems(report)
    for problem in problems:
        _fail(problem)
    if problems or report.settings is None:
        return 2
    settings = report.settings
    setup_logging(
        "DEBUG" if args.verbose else settings.logging.level,
        log_format=settings.logging.format,
        secrets=secrets_of(settings),
    )
    # discord.py loads only for the commands that need it.
    from discord.errors import LoginFailure, PrivilegedIntentsRequired

    from bot.discord.client import run_bot
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
        _fail(str(exc))
        return 2
    except LoginFailure:
        origin = report.secret_origins.get("discord.token", "the file")
        _fail(
            f"Discord refused the bot token (from {origin}): copy it again from the Developer "
            "Portal (Bot → Reset Token)."
        )
        return 2
    except PrivilegedIntentsRequired:
        _fail("Discord refused the gateway intents; the bot needs only guilds and reactions.")
        return 2
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the running bot is healthy, 1 (saying why) when not: Docker's HEALTHCHECK."""
    settings = _load(args)
    if settings is None:
        return 2
    address = settings.http.address
    if address is not None:
        problem = probe_http(probe_url(address))
    else:
        path = health_file_for(settings.storage.database)
        problem = judge_health_file(path, now=datetime.now(UTC))
    if problem is not None:
        _fail(f"unhealthy: {problem}")
        return 1
    print("✓ healthy")
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    """Copy the database with SQLite's online backup API (the bot may keep running)."""
    settings = _load(args)
    if settings is None:
        return 2
    database = settings.storage.database
    if "://" in str(args.path) or str(database).startswith("postgres"):
        _fail("This backs up SQLite databases; for PostgreSQL use pg_dump.")
        return 2
    try:
        done = asyncio.run(backup_database(database, Path(args.path), overwrite=args.overwrite))
    except BackupError as exc:
        _fail(exc.member_message)
        return 1
    print(f"✓ Backed up {database} to {done.path} ({done.size_bytes:,} bytes, {done.tasks} tasks).")
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
    _add_config_option(run)
    run.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    run.set_defaults(handler=cmd_run)
    check = commands.add_parser("check", help="validate the configuration")
    _add_config_option(check)
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
        "--client-id", type=_positive, metavar="ID", help="the application id (else from the token)"
    )
    _add_config_option(invite)
    invite.set_defaults(handler=cmd_invite)
    database = commands.add_parser("db", help="database maintenance: backup")
    database_commands = database.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    backup = database_commands.add_parser(
        "backup",
        help="copy the SQLite database to PATH (safe while the bot runs)",
        description="A consistent copy of storage.database made with SQLite's online backup "
        "API, checked, as one self-contained file. The bot may keep running.",
    )
    backup.add_argument("path", metavar="PATH", help="where the copy goes")
    backup.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    _add_config_option(backup)
    backup.set_defaults(handler=cmd_db_backup)
    health = commands.add_parser(
        "health",
        help="is the running bot healthy? (exit 0 or 1; for Docker's HEALTHCHECK)",
        description="Asks the bot's /healthz when [http] listen is set, else reads the health "
        "report the bot writes next to its database every few seconds.",
    )
    _add_config_option(health)
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
    _add_submit(commands)
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
        type=_task_states,
        metavar="S[,S…]",
        help="only tasks in these states (below); failed, rejected, timed_out and "
        "undeliverable all ended without a video",
    )
    tasks.add_argument("--limit", type=_positive, default=20, metavar="N", help="default 20")
    _add_config_option(tasks)
    tasks.set_defaults(handler=cmd_tasks)
    task = commands.add_parser("task", help="one task in full, with its history")
    task.add_argument("id", type=_positive, metavar="ID", help="the task's number")
    _add_config_option(task)
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

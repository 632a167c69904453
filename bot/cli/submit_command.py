"""`kling-bot submit`: its options, and one task from the terminal through the same engine."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.cli.common import add_config_option, fail, load
from bot.cli.preflight import storage_problems
from bot.cli.submit import SubmitOptions, build_request, run_submit
from bot.domain.errors import InvalidInput
from bot.domain.lifecycle import TaskState
from bot.domain.logs import secrets_of, setup_logging
from bot.domain.request import ASPECT_RATIOS, MODEL_NAMES, MODES, PROMPT_MAX_CHARS
from bot.engine.assembly import EngineBusy
from bot.settings import COMETAPI_KEY_ENV, Settings
from bot.settings.database import shown_database

EXIT_INTERRUPTED = 130  # the shell's convention for a command stopped by Ctrl-C


def cmd_submit(args: argparse.Namespace) -> int:
    """Make one video from the terminal through the store, queue and tracker."""
    settings = load(args)
    if settings is None:
        return 2
    problems = [] if args.fake else storage_problems(settings.storage)
    for problem in problems:
        fail(problem)
    if problems:
        return 2
    key = settings.omni.api_key.get_secret_value()
    if not key and not args.fake:
        fail(
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
        fail(
            "Interrupted. What was done is in the database; the next `kling-bot submit` or "
            "`kling-bot run` resumes it."
        )
        return EXIT_INTERRUPTED


async def _submit(args: argparse.Namespace, settings: Settings, options: SubmitOptions) -> int:
    try:
        request = await build_request(options, settings.omni)
    except InvalidInput as exc:
        fail(exc.member_message)
        return 2
    setup_logging(
        "INFO" if args.verbose else "WARNING",
        log_format=settings.logging.format,
        secrets=secrets_of(settings, os.environ),
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
        fail(exc.member_message)
        return 2
    task = outcome.task
    database = settings.storage.database
    if outcome.was_interrupted:
        if args.fake:
            fail(f"Stopped. Task #{task.id} ended with the built-in fake API ({task.state}).")
        else:
            fail(
                f"Stopped waiting. Task #{task.id} ({task.state}) stays in "
                f"{shown_database(database)}; the next "
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


def add_submit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_config_option(submit)
    submit.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    submit.set_defaults(handler=cmd_submit)

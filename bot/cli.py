"""`kling-bot`: run | check | demo | submit | tasks. Parses arguments and calls into `bot/`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.errors import ConfigError
from bot.settings import describe_settings, load_settings, problems_for_running


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $KLING_BOT_CONFIG, else config.toml)",
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and say exactly what is wrong, secrets masked."""
    try:
        settings, path = load_settings(args.config, os.environ)
    except ConfigError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 2
    source = str(path) if path.is_file() else f"{path} (absent: defaults and environment)"
    print(f"Configuration: {source}")
    for line in describe_settings(settings):
        print(f"  {line}")
    problems = problems_for_running(settings)
    for problem in problems:
        print(f"✗ {problem}", file=sys.stderr)
    if problems:
        return 2
    print("✓ The configuration is valid.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `kling-bot` command."""
    parser = argparse.ArgumentParser(
        prog="kling-bot",
        description="Kling Omni Bot: make short videos with Kling Omni from Discord.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser("check", help="validate the configuration")
    _add_config_option(check)
    check.set_defaults(handler=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kling-bot` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

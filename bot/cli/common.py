"""What every `kling-bot` command shares: the `--config` option, reading the configuration, and
saying what is wrong."""

from __future__ import annotations

import argparse
import os
import sys

from bot.domain.errors import ConfigError
from bot.settings import Settings
from bot.settings.reading import ConfigReport, load_settings, read_config


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $KLING_BOT_CONFIG, else config.toml)",
    )


def fail(message: str) -> None:
    print(f"✗ {message}", file=sys.stderr)


def load(args: argparse.Namespace) -> Settings | None:
    try:
        settings, _ = load_settings(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            fail(problem)
        return None
    return settings


def read(args: argparse.Namespace) -> ConfigReport | None:
    try:
        return read_config(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            fail(problem)
        return None


def config_source(report: ConfigReport) -> str:
    """The config file read, or that there is none and what stands in for it."""
    if report.is_file:
        return str(report.path)
    return f"{report.path} (absent: defaults and environment)"

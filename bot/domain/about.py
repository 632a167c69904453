"""The bot's name and installed version, for `kling-bot --version` and the start-up line."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

NAME = "Kling Omni Bot"
DISTRIBUTION = "kling-omni-bot"


def bot_version() -> str:
    """The installed package's version ("unknown" when run from a source tree not installed)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"

"""Logging set-up: one format for every command, and secrets scrubbed from every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace every known secret with `***` in a record's final message (defence in depth)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = message
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, scrubbed, so the handler does not render it raw.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
            record.exc_info = None
        if text != message or record.args:
            record.msg, record.args = text, None
        return True


def setup_logging(level: str | int = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Log to stderr with timestamps; scrub `secrets` from everything that is logged."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # discord.py is chatty at INFO about gateway details an operator rarely needs.
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))

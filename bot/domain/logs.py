"""Logging set-up: text or JSON lines, the task a line is about, and secrets scrubbed from all.

Every log line about a task carries `task_id`, `guild_id`, `channel_id` and `user_id`. In text
they are in the message (`TaskRecord.log_context`); in JSON they are also fields of their own,
taken from a `TaskLogContext` among the line's arguments, or else from the task the running code
is working on (`task_scope`), so that lines of shared code (the API client, downloads) say which
task they were for without passing it around.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Literal, Self
from urllib.parse import unquote

if TYPE_CHECKING:
    from bot.settings import Settings

_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
TASK_FIELDS = ("task_id", "guild_id", "channel_id", "user_id")
LogFormat = Literal["text", "json"]
# Libraries whose DEBUG lines (every gateway event, every SQL statement) drown the bot's own.
QUIETER = ("discord", "aiosqlite")
PASSWORD_ENV = "PGPASSWORD"  # a PostgreSQL password, when storage.database's URL has none
# `postgresql://user:password@host/db` (a Path keeps one slash of the two): the password part.
_URL_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/{1,2}[^/:@]*:([^@/]+)@")


class TaskLogContext(str):
    """`task_id=1 guild_id=2 channel_id=3 user_id=4`: text in a message, fields in JSON."""

    fields: dict[str, int | None]

    def __new__(
        cls, task_id: int, guild_id: int | None, channel_id: int | None, user_id: int | None
    ) -> Self:
        fields = {
            "task_id": task_id,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "user_id": user_id,
        }
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        made = super().__new__(cls, text)
        made.fields = fields
        return made

    @classmethod
    def of_id(cls, task_id: int) -> TaskLogContext:
        """A task known only by its number (its record could not be read)."""
        return cls(task_id, None, None, None)


_current_task: contextvars.ContextVar[TaskLogContext | None] = contextvars.ContextVar(
    "kling_bot_current_task", default=None
)


@contextlib.contextmanager
def task_scope(context: TaskLogContext) -> Iterator[None]:
    """Lines logged inside this block (by any module) are about this task."""
    token = _current_task.set(context)
    try:
        yield
    finally:
        _current_task.reset(token)


def task_context(context: TaskLogContext) -> contextvars.Context:
    """A copy of the current context in which lines are about this task (for `create_task`)."""
    copied = contextvars.copy_context()
    copied.run(_current_task.set, context)
    return copied


class TaskFields(logging.Filter):
    """Give a record the fields of the task it is about, if it is about one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "task_id", None) is not None:
            return True  # given with `extra=`
        context = _context_in_args(record.args) or _current_task.get()
        if context is not None:
            for key, value in context.fields.items():
                setattr(record, key, value)
        return True


def _context_in_args(args: object) -> TaskLogContext | None:
    values = args.values() if isinstance(args, dict) else args
    if isinstance(values, Iterable) and not isinstance(values, str):
        for value in values:
            if isinstance(value, TaskLogContext):
                return value
    return None


class RedactSecrets(logging.Filter):
    """Replace every known secret with `***` in a record's final message (defence in depth)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with every secret replaced by `***`."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = self.scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, scrubbed, so the handler does not render it raw.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        if text != message or record.args:
            record.msg, record.args = text, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the task's fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "task_id", None) is not None:
            for key in TASK_FIELDS:
                entry[key] = getattr(record, key, None)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def secrets_of(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """What must never be logged: the Discord token, the CometAPI key, a database password (in
    storage.database's URL, or in PGPASSWORD from `env`, where PostgreSQL's drivers read it)."""
    secrets = [
        settings.discord.token.get_secret_value(),
        settings.omni.api_key.get_secret_value(),
        (env or {}).get(PASSWORD_ENV, ""),
    ]
    password = _URL_PASSWORD.match(str(settings.storage.database))
    if password is not None:
        secrets += [password.group(1), unquote(password.group(1))]
    return [secret for secret in dict.fromkeys(secrets) if secret]  # each once, in order


def log_handler(
    log_format: LogFormat = "text", *, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """A handler writing `log_format` lines to `stream` (stderr), task fields added, scrubbed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    handler.setFormatter(formatter)
    # In this order: the task's fields are read from the arguments before scrubbing drops them.
    handler.addFilter(TaskFields())
    handler.addFilter(RedactSecrets(secrets))
    return handler


def setup_logging(
    level: str | int = "INFO",
    *,
    log_format: LogFormat = "text",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Log to stderr (or `stream`) as text or JSON; scrub `secrets` from everything logged."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(log_format, secrets=secrets, stream=stream))
    root.setLevel(level)
    for name in QUIETER:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))

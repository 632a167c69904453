"""Log lines: JSON objects with the task's fields, text as before, secrets scrubbed from both."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.domain.logs import TaskLogContext, log_handler, secrets_of, task_context, task_scope
from bot.settings import Settings

TOKEN = "discord-token.abcdefgh"
KEY = "sk-cometapi-key-123456"
ALICE = TaskLogContext(7, 100, 200, 300)


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    """A logger writing to a JSON stream and a text stream at once."""
    json_out, text_out = io.StringIO(), io.StringIO()
    logger = logging.getLogger("tests.logs")
    handlers = [
        log_handler("json", secrets=[TOKEN, KEY], stream=json_out),
        log_handler("text", secrets=[TOKEN, KEY], stream=text_out),
    ]
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, json_out, text_out
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.propagate = True


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_task_line_carries_the_tasks_fields(lines: tuple[logging.Logger, ...]) -> None:
    logger, json_out, text_out = lines
    logger.info("submitted %s api_task_id=%s", ALICE, "8781")
    [entry] = parsed(json_out)  # type: ignore[arg-type]
    assert entry["message"] == "submitted task_id=7 guild_id=100 channel_id=200 user_id=300 " + (
        "api_task_id=8781"
    )
    assert {k: entry[k] for k in ("task_id", "guild_id", "channel_id", "user_id")} == {
        "task_id": 7,
        "guild_id": 100,
        "channel_id": 200,
        "user_id": 300,
    }
    assert entry["level"] == "INFO" and entry["logger"] == "tests.logs"
    assert "INFO    tests.logs: submitted task_id=7 guild_id=100" in text_out.getvalue()


def test_lines_of_shared_code_inside_a_task_scope_are_about_that_task(
    lines: tuple[logging.Logger, ...],
) -> None:
    logger, json_out, _ = lines
    with task_scope(ALICE):
        logger.info("omni GET -> 200")  # the client does not know which task it serves
    logger.info("engine started")
    about_alice, plain = parsed(json_out)  # type: ignore[arg-type]
    assert (about_alice["task_id"], about_alice["user_id"]) == (7, 300)
    assert "task_id" not in plain


async def test_a_job_started_in_a_task_context_is_about_that_task(
    lines: tuple[logging.Logger, ...],
) -> None:
    logger, json_out, _ = lines

    async def job() -> None:
        logger.info("status edited")

    await asyncio.create_task(job(), context=task_context(ALICE))
    logger.info("after")
    job_line, after = parsed(json_out)  # type: ignore[arg-type]
    assert job_line["channel_id"] == 200
    assert "task_id" not in after  # the caller's own context was not touched


def test_secrets_are_scrubbed_from_messages_and_tracebacks(
    lines: tuple[logging.Logger, ...],
) -> None:
    logger, json_out, text_out = lines
    try:
        raise RuntimeError(f"refused Bearer {KEY}")
    except RuntimeError:
        logger.exception("login with %s failed %s", TOKEN, ALICE)
    for text in (json_out.getvalue(), text_out.getvalue()):
        assert TOKEN not in text and KEY not in text
        assert "refused Bearer ***" in text.replace("\\n", "\n")
    [entry] = parsed(json_out)  # type: ignore[arg-type]
    assert entry["message"] == f"login with *** failed {ALICE}"
    assert entry["task_id"] == 7  # read before the arguments were scrubbed away
    assert "RuntimeError" in str(entry["error"])


def test_the_secrets_include_a_database_password() -> None:
    settings = Settings.model_validate(
        {
            "discord": {"token": TOKEN},
            "omni": {"api_key": KEY},
            "storage": {"database": "postgresql://kling:db-pass-word@db.internal:5432/kling"},
        }
    )
    assert secrets_of(settings) == [TOKEN, KEY, "db-pass-word"]
    assert secrets_of(Settings()) == []  # nothing set, nothing to scrub (SQLite has no password)


def test_the_secrets_include_pgpassword_and_a_password_as_written_and_as_meant() -> None:
    settings = Settings.model_validate(
        {"storage": {"database": "postgresql://kling:p%40ss-word@db.internal/kling"}}
    )
    env = {"PGPASSWORD": "from-the-env", "HOME": "/home/kling"}
    assert secrets_of(settings, env) == ["from-the-env", "p%40ss-word", "p@ss-word"]


def test_the_logging_settings() -> None:
    settings = Settings.model_validate({"logging": {"format": "json", "level": "debug"}})
    assert (settings.logging.format, settings.logging.level) == ("json", "DEBUG")

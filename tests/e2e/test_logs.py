"""Every log line of a real run, as JSON and text: task lines name their task, no secret leaks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.logs import QUIETER, log_handler, secrets_of
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to
from bot.settings import Settings

SETTLE_S = 30  # a guard against hangs, not a speed assertion
# SQLite has no password; with a PostgreSQL URL in storage.database, `secrets_of` adds its
# password. This one is planted in a line the way a failed connect would log its URL.
# A text line that starts a record (the others continue a traceback).
TEXT_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
DATABASE_URL = "postgresql://kling:db-secret-9f3e@db.internal:5432/kling"


@dataclass
class Captured:
    json_out: io.StringIO
    text_out: io.StringIO
    secrets: list[str]


@pytest.fixture
def captured(bot_settings: Settings) -> Iterator[Captured]:
    """Every record of the run (DEBUG and up; discord.py and aiosqlite from INFO, as the bot logs
    them) in both
    formats, scrubbed with the secrets of the bot's settings and of a PostgreSQL URL."""
    with_postgres = bot_settings.model_copy(
        update={"storage": bot_settings.storage.model_copy(update={"database": DATABASE_URL})}
    )
    secrets = secrets_of(with_postgres)
    assert len(secrets) == 3  # the token, the API key, the database password
    capture = Captured(io.StringIO(), io.StringIO(), secrets)
    handlers = [
        log_handler("json", secrets=secrets, stream=capture.json_out),
        log_handler("text", secrets=secrets, stream=capture.text_out),
    ]
    root = logging.getLogger()
    chatty = [logging.getLogger(name) for name in QUIETER]
    levels = [root.level, *(logger.level for logger in chatty)]
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in chatty:
        logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        for logger, level in zip([root, *chatty], levels, strict=True):
            logger.setLevel(level)


async def all_ended(bot: KlingBot, count: int) -> None:
    async def wait() -> None:
        while True:
            tasks = await bot.services.store.list_tasks()
            if len(tasks) >= count and all(t.is_terminal for t in tasks):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), SETTLE_S)


async def test_every_line_of_a_run_names_its_task_and_leaks_no_secret(
    captured: Captured, fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    bob = fake_discord.member(fake_discord.default.bob)
    fake_comet.inject("server_500_gateway", route="query")  # a warning about a task's query
    itx = await alice.run("video", prompt="a paper boat in the rain")
    await itx.wait_ack()
    assert itx.original is not None
    result = await reply_to(fake_discord, itx.original.id)
    await alice.react(result.id, "🔁")
    failing = await bob.run("video", prompt="FAILME a storm")
    await failing.wait_ack()
    await all_ended(kling_bot, 3)
    states = sorted(t.state.value for t in await kling_bot.services.store.list_tasks())
    assert states == ["delivered", "delivered", "failed"]
    token, key, password = captured.secrets
    planted = logging.getLogger("bot.storage")
    planted.error("could not connect to %s", DATABASE_URL)
    try:
        raise PermissionError(f"Discord refused token {token} and CometAPI key {key}")
    except PermissionError:
        planted.exception("login failed")

    text = captured.text_out.getvalue()
    raw_json = captured.json_out.getvalue()
    for output in (text, raw_json):
        for secret in (token, key, password):
            assert secret not in output
        assert "could not connect to postgresql://kling:***@db.internal" in output
        assert "Discord refused token *** and CometAPI key ***" in output
    entries = [json.loads(line) for line in raw_json.splitlines()]  # every line is one object
    assert len(entries) == sum(1 for line in text.splitlines() if TEXT_RECORD.match(line))
    product = [e for e in entries if not e["logger"].startswith("bot.fakes")]  # not the fakes'
    task_entries = [e for e in product if "task_id" in e]
    for entry in product:
        mentioned = re.search(r"\btask_id=(\d+)", entry["message"])
        if mentioned is not None:
            assert entry.get("task_id") == int(mentioned.group(1)), entry
    for entry in task_entries:
        assert all(entry[k] is not None for k in ("guild_id", "channel_id", "user_id")), entry
    messages = [e["message"] for e in task_entries]
    # The lines of the API client carry the task they were for, though it never names it.
    assert any(m.startswith("omni POST") for m in messages)
    assert any(m.startswith("omni GET") and "status=succeeded" in m for m in messages)
    assert any(m.startswith("omni query retry") for m in messages)
    assert sum(m.startswith("delivered") for m in messages) == 2
    assert {e["user_id"] for e in task_entries} == {
        fake_discord.default.alice.id,
        fake_discord.default.bob.id,
    }
    failed = await kling_bot.services.store.list_tasks(state=TaskState.FAILED)
    assert any(e["task_id"] == failed[0].id for e in task_entries)

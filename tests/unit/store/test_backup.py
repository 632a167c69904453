"""`kling-bot db backup PATH`: a consistent, self-contained copy, also while the bot writes."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.domain.records import NewTask
from bot.domain.request import make_request
from bot.store.backup import BackupError, backup_database
from bot.store.sql_store import SqlStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REQUEST = make_request(
    {"model": "kling-video-o1", "prompt": "a boat", "duration_s": 5, "aspect_ratio": "16:9"}
)


def tasks_in(path: Path) -> int:
    with sqlite3.connect(path) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        return int(copy.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


async def add_tasks(store: SqlStore, count: int) -> None:
    for _ in range(count):
        await store.create_task(NewTask("cli", REQUEST, 0), now=NOW)


async def test_a_backup_of_a_running_database_holds_every_committed_task(tmp_path: Path) -> None:
    database = tmp_path / "data" / "bot.sqlite3"
    store = await SqlStore.open(database)
    try:
        await add_tasks(store, 5)
        assert (tmp_path / "data" / "bot.sqlite3-wal").exists()  # the commits are in the WAL
        writer = asyncio.create_task(add_tasks(store, 50))  # the bot keeps writing meanwhile
        done = await backup_database(database, tmp_path / "backups" / "one.sqlite3")
        await writer
    finally:
        await store.close()
    assert done.path == tmp_path / "backups" / "one.sqlite3"
    assert 5 <= done.tasks <= 55 and tasks_in(done.path) == done.tasks
    assert done.size_bytes == done.path.stat().st_size
    assert not list((tmp_path / "backups").glob(".*part"))
    reopened = await SqlStore.open(done.path)  # a backup is a database the bot can run on
    try:
        assert await reopened.integrity_check() == "ok"
    finally:
        await reopened.close()


async def test_refusals_say_what_to_do(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    with pytest.raises(BackupError, match="There is no database at"):
        await backup_database(database, tmp_path / "copy.sqlite3")
    store = await SqlStore.open(database)
    await store.close()
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(b"an older backup")
    with pytest.raises(BackupError, match="exists already: give another path, or add --overwrite"):
        await backup_database(database, target)
    assert target.read_bytes() == b"an older backup"
    assert (await backup_database(database, target, overwrite=True)).tasks == 0
    with pytest.raises(BackupError, match="can't replace the database itself"):
        await backup_database(database, database, overwrite=True)
    not_ours = tmp_path / "other.sqlite3"
    sqlite3.connect(not_ours).close()
    with pytest.raises(BackupError, match="not a kling-bot database"):
        await backup_database(not_ours, tmp_path / "x.sqlite3")


def test_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase = "data/bot.sqlite3"\n', encoding="utf-8")

    async def make() -> None:
        store = await SqlStore.open(tmp_path / "data" / "bot.sqlite3")
        await add_tasks(store, 3)
        await store.close()

    asyncio.run(make())
    assert main(["db", "backup", "nightly.sqlite3", "--config", str(config)]) == 0
    assert "✓ Backed up data/bot.sqlite3 to nightly.sqlite3" in capsys.readouterr().out
    assert tasks_in(tmp_path / "nightly.sqlite3") == 3
    assert main(["db", "backup", "nightly.sqlite3", "--config", str(config)]) == 1
    assert "exists already" in capsys.readouterr().err

"""The operator's commands with `storage.database` a PostgreSQL URL: `check --online`'s database
check, `tasks` and `task N`, `db backup` (pg_dump), `check`; a server that does not answer or
refuses the login said as such, the password never printed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.cli.main import main
from bot.cli.online_check import check_database
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from bot.features.health import HealthFacts, HealthFile
from bot.store.postgresql_migrate import load_postgresql_migrations
from bot.store.sql_store import SqlStore
from tests.helpers.cli import kling_bot
from tests.helpers.postgresql import with_database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "Db-Pass-Word-4e1f"  # the test server trusts its clients: any password logs in
LATEST = len(load_postgresql_migrations())


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{PASSWORD}@{host}").geturl()


def config(directory: Path, database: str) -> str:
    path = directory / "config.toml"
    path.write_text(f'[storage]\ndatabase = "{database}"\n', encoding="utf-8")
    return str(path)


async def test_the_online_check_reads_the_schema_and_counts_without_changing_anything(
    postgresql_url: str, new_postgresql_database: str
) -> None:
    async with await SqlStore.open(postgresql_url) as store:
        request = OmniRequest(prompt="a kite over the dunes", aspect_ratio="16:9")
        await store.create_task(NewTask(origin="cli", request=request, cost=0), now=NOW)
        result = await check_database(with_user(postgresql_url, "postgres"))
    assert result.is_ok, result.message
    assert result.message.startswith("postgresql://postgres:***@")
    assert f"is readable, schema version {LATEST}, 1 tasks." in result.message
    assert "bot connection(s) are open now" in result.message  # the store above
    assert PASSWORD not in result.message

    fresh = await check_database(new_postgresql_database)
    assert fresh.is_ok
    assert f"schema version 0; {LATEST} migration(s) will run on start, 0 tasks." in fresh.message
    conn = await asyncpg.connect(new_postgresql_database)
    try:
        tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        assert await conn.fetchval(tables) == 0  # a check migrates nothing
    finally:
        await conn.close()


async def test_a_server_that_does_not_answer_or_refuses_is_said_as_such(
    postgresql_url: str,
) -> None:
    silent = await check_database(f"postgresql://kling:{PASSWORD}@127.0.0.1:1/kling")
    assert not silent.is_ok
    assert silent.message.startswith("PostgreSQL at 127.0.0.1:1 does not answer (")
    assert "is the server running, and are the host and port in storage.database right?" in (
        silent.message
    )
    stranger = await check_database(with_user(postgresql_url, "nobody_here"))
    assert not stranger.is_ok
    assert "refused the login (" in stranger.message and "nobody_here" in stranger.message
    assert "check the user and password in storage.database (or PGPASSWORD)" in stranger.message
    missing = await check_database(with_database(postgresql_url, "no_such_database"))
    assert not missing.is_ok
    assert 'answers, but database "no_such_database" does not exist: create it' in missing.message
    for result in (silent, stranger, missing):
        assert PASSWORD not in result.message


@pytest.mark.slow
async def test_tasks_and_task_read_postgresql(tmp_path: Path, postgresql_url: str) -> None:
    async with await SqlStore.open(postgresql_url) as store:
        request = OmniRequest(prompt="a kite over the dunes", aspect_ratio="16:9")
        task = await store.create_task(NewTask(origin="cli", request=request, cost=0), now=NOW)
    database = with_user(postgresql_url, "postgres")
    path = config(tmp_path, database)
    listed = await kling_bot("tasks", "--config", path, cwd=tmp_path)
    assert listed.code == 0, listed.output
    assert "a kite over the dunes" in listed.stdout
    one = await kling_bot("task", str(task.id), "--config", path, cwd=tmp_path)
    assert one.code == 0, one.output
    assert f"#{task.id}" in one.stdout and "queued" in one.stdout
    none = await kling_bot("task", "999", "--config", path, cwd=tmp_path)
    assert none.code == 1
    assert none.stderr == f"✗ There is no task 999 in {database.replace(PASSWORD, '***')}.\n"
    for run in (listed, one, none):
        assert PASSWORD not in run.output


@pytest.mark.slow
async def test_tasks_on_a_server_that_does_not_answer(tmp_path: Path) -> None:
    path = config(tmp_path, f"postgresql://kling:{PASSWORD}@127.0.0.1:1/kling")
    run = await kling_bot("tasks", "--config", path, cwd=tmp_path)
    assert run.code == 2
    assert run.stderr.startswith(
        "✗ Could not open the database at postgresql://kling:***@127.0.0.1:1/kling: "
    )
    assert PASSWORD not in run.output and "Traceback" not in run.output


@pytest.mark.slow
async def test_backup_and_check_on_postgresql(tmp_path: Path) -> None:
    path = config(tmp_path, f"postgresql://kling:{PASSWORD}@db.internal:5432/kling")
    backup = await kling_bot("db", "backup", "nightly.dump", "--config", path, cwd=tmp_path)
    assert backup.code == 2
    assert (
        "pg_dump --format=custom --file=nightly.dump 'postgresql://kling@db.internal:5432/kling' "
        "(the password from PGPASSWORD or ~/.pgpass; pg_restore puts it back)."
    ) in backup.stderr
    check = await kling_bot("check", "--config", path, cwd=tmp_path)
    assert "storage.database = 'postgresql://kling:***@db.internal:5432/kling'" in check.stdout
    assert "storage.database" not in check.stderr  # no file to write, nothing refused
    for run in (backup, check):
        assert PASSWORD not in run.output


@pytest.mark.slow
async def test_submit_on_postgresql_takes_no_lock_file(tmp_path: Path, postgresql_url: str) -> None:
    key = "sk-test-submit-on-postgresql"
    async with FakeCometAPI(FakeCometConfig(api_key=key, submitted_s=0.1)) as fake:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[omni]\napi_key = "{key}"\nbase_url = "{fake.base_url}"\n'
            f'[storage]\ndatabase = "{postgresql_url}"\nmedia_dir = "data/media"\n',
            encoding="utf-8",
        )
        run = await kling_bot("submit", "a lantern on a pier", cwd=tmp_path)
    assert run.code == 0, run.output
    assert run.stdout.splitlines()[0] == "task #1 queued"
    assert found(tmp_path, "*.lock") == []
    async with await SqlStore.open(postgresql_url) as store:
        task = await store.get_task(1)
    assert task.request.prompt == "a lantern on a pier"
    assert task.api_task_id is not None  # sent through the engine, written to PostgreSQL


def found(root: Path, pattern: str) -> list[Path]:
    return list(root.rglob(pattern))


def test_each_shard_process_reads_its_own_health_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    def config_for(shard_id: int) -> str:
        path = tmp_path / f"shard-{shard_id}.toml"
        path.write_text(
            "[discord]\nshard_count = 2\n"
            f"shard_ids = [{shard_id}]\n"
            f'[storage]\ndatabase = "postgresql://kling:{PASSWORD}@db.internal/kling"\n'
            'media_dir = "shared-media"\n',
            encoding="utf-8",
        )
        return str(path)

    async def healthy() -> HealthFacts:
        return HealthFacts(
            gateway_connected=True,
            database_error=None,
            loop_ages_s={"submitter": 1.0, "tracker": 1.0},
            queue_depth=0,
            in_flight=0,
            last_api_success_at=None,
            api_failures_since_success=0,
            checked_at=datetime.now(UTC),
        )

    report = tmp_path / "shared-media" / "health" / "shards-1.health"
    asyncio.run(HealthFile(report, healthy).run_once())  # what the process of shard 1 writes
    assert main(["health", "--config", config_for(1)]) == 0
    assert capsys.readouterr().out == "✓ healthy\n"
    assert main(["health", "--config", config_for(0)]) == 1
    missing = Path("shared-media") / "health" / "shards-0.health"
    assert f"no health report at {missing}: the bot is not running" in capsys.readouterr().err

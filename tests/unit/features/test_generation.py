"""The `/video` use case on a real store: a charge obeys the quota stored at charge time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.domain.errors import QuotaExceeded
from bot.domain.records import Lease, NewTask, QuotaCheck, QuotaTerms, TaskRecord
from bot.domain.request import OmniRequest
from bot.engine.courier import FileDeliverer
from bot.engine.task_engine import EngineSettings, TaskEngine
from bot.features.generation import GenerationService
from bot.features.media import MediaStore
from bot.features.requests import Requester
from bot.omni.client import OmniClient
from bot.settings import Settings
from bot.store.sql_store import SqlStore

GUILD, CHANNEL, ALICE = 10, 20, 30
REQUEST = OmniRequest(prompt="a lighthouse in a storm", aspect_ratio="9:16")


class ModeratorStepsIn(SqlStore):
    """A store where a moderator's `/quota set @alice 0` lands just as the charge starts: after
    anything the command read before calling the store, before the charging transaction."""

    async def create_task(
        self,
        new: NewTask,
        *,
        now: datetime,
        quota: QuotaCheck | QuotaTerms | None = None,
        held: bool = False,
        lease: Lease | None = None,
    ) -> TaskRecord:
        await self.set_override(GUILD, "member", ALICE, limit=0, now=now)
        return await super().create_task(new, now=now, quota=quota, held=held, lease=lease)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await ModeratorStepsIn.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def generation(store: SqlStore, tmp_path: Path) -> AsyncIterator[GenerationService]:
    async with aiohttp.ClientSession() as session:
        settings = Settings()  # quotas.default_limit = 5: Alice may make a video until the set
        engine = TaskEngine(  # never started: nothing here reaches an API
            store,
            OmniClient(session, "http://127.0.0.1:9", "sk-unused-key"),
            FileDeliverer(tmp_path / "out"),
            EngineSettings(
                max_concurrent_tasks=1,
                results_dir=tmp_path / "results",
                max_result_bytes=1 << 20,
            ),
        )
        yield GenerationService(engine, settings, MediaStore(tmp_path / "media", session))


async def test_a_limit_set_to_zero_while_the_command_is_on_its_way_is_honoured(
    generation: GenerationService, store: SqlStore
) -> None:
    with pytest.raises(QuotaExceeded, match="set your quota to 0"):
        await generation.queue(Requester(GUILD, CHANNEL, ALICE), REQUEST)
    assert await store.list_tasks() == []
    assert await store.credits_used(GUILD, ALICE, datetime(2000, 1, 1, tzinfo=UTC)) == 0

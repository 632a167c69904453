"""▶ Extend and ✏️ Extend…: who may continue a result, whether it can be, and the new task.

Knows nothing about discord.py: the cog hands in an `ExtendPress` as plain data and gets a held
`Ticket` back (answered and released like a `/video` one), or a `KlingBotError` whose sentence
the member reads privately. The rules are in `bot.features.extend`; the clip goes to the API from
the result message itself (`bot.features.clip_hosting`), and the joined chain is posted with the
extension's result (`bot.features.chain_post`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.domain.delivery import kept_result
from bot.domain.errors import InvalidInput, NotYours, TaskNotFound
from bot.domain.i18n import N_, _, ngettext
from bot.domain.moderation import MemberFacts
from bot.domain.records import TaskRecord
from bot.domain.request import OmniRequest
from bot.engine.task_engine import utc_now
from bot.features.clip_hosting import result_reference
from bot.features.clips import ClipFacts, probe_clip
from bot.features.extend import (
    chain_refusal,
    clip_refusal,
    extension_request,
    member_text,
    text_refusal,
)
from bot.features.generation import GenerationService, Ticket
from bot.features.requests import Requester
from bot.features.reruns import NOT_YOURS, REPEAT_WINDOW, RerunService
from bot.settings import Settings
from bot.store import TaskStore

POSTED_AS_LINK = N_(
    "This video was posted as a link, not attached to its message, so Kling can't be given it "
    "to continue: only a video attached to its result message can be extended."
)
ASKED_ALREADY = N_("You asked to extend this video a moment ago; it is on its way.")
_LONGEST_CHAIN = 64  # a guard against a loop in the records, far above any configured limit


@dataclass(frozen=True, slots=True)
class ExtendPress:
    """A member pressed ▶ Extend or ✏️ Extend… under a result."""

    guild_id: int
    message_id: int
    task_id: int
    member: MemberFacts
    is_result_attached: bool  # the pressed message carries the result's MP4


@dataclass(frozen=True, slots=True)
class Extendable:
    """A result that may be continued: its task and what a probe measured of its video."""

    task: TaskRecord
    facts: ClipFacts

    @property
    def text(self) -> str:
        """What ▶ Extend asks for again, and what ✏️ Extend… starts from."""
        return member_text(self.task.request)


async def chain_of(store: TaskStore, task: TaskRecord) -> list[TaskRecord]:
    """The chain up to `task`, first video first: each task the one the next extends."""
    chain = [task]
    while chain[0].extends is not None and len(chain) < _LONGEST_CHAIN:
        try:
            chain.insert(0, await store.get_task(chain[0].extends))
        except TaskNotFound:
            break
    return chain


class ExtensionService:
    """Turns presses of a result's Extend buttons into new tasks that continue it."""

    def __init__(
        self,
        store: TaskStore,
        generation: GenerationService,
        reruns: RerunService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._generation = generation
        self._reruns = reruns
        self._settings = settings
        self._clock = clock
        self._recent: dict[tuple[int, int], datetime] = {}  # (message, member) → last ▶ Extend

    def result_path(self, task_id: int) -> Path:
        """Where the bot keeps a task's downloaded video."""
        return kept_result(self._settings.storage.media_dir / "results", task_id)

    async def check(self, press: ExtendPress) -> Extendable:
        """The result, if this member may extend it and Kling can continue it; else the
        refusal's sentence (nothing is charged)."""
        task = await self._reruns.result_task(press.guild_id, press.task_id)
        if not await self._reruns.allows(task, press.member):
            raise NotYours(_(NOT_YOURS))
        if not press.is_result_attached:
            raise InvalidInput(_(POSTED_AS_LINK))
        extensions = len(await chain_of(self._store, task)) - 1
        refusal = chain_refusal(extensions, self._settings.reruns.max_extensions)
        if refusal is not None:
            raise InvalidInput(refusal)
        facts = await self._facts(task)
        refusal = clip_refusal(task.id, facts)
        if refusal is not None:
            raise InvalidInput(refusal)
        return Extendable(task, facts)

    async def extend(self, who: Requester, press: ExtendPress, text: str | None = None) -> Ticket:
        """Queue the next shot of the pressed result, held until released: with `text` (✏️
        Extend…), or asking for the same again (▶ Extend, where a double press makes one)."""
        found = await self.check(press)
        words = found.text if text is None else text
        refusal = text_refusal(words)
        if refusal is not None:
            raise InvalidInput(refusal)
        request = extension_request(
            found.task.request,
            text=words,
            clip_reference=result_reference(found.task.id),
            facts=found.facts,
            default_duration_s=self._settings.omni.duration,
        )
        if text is not None:
            return await self._queue(who, found.task, request)
        key = (press.message_id, press.member.user_id)
        now = self._clock()
        self._recent = {k: t for k, t in self._recent.items() if now - t < REPEAT_WINDOW}
        if key in self._recent:
            raise InvalidInput(_(ASKED_ALREADY))
        self._recent[key] = now  # claimed before the next await: a double press stops here
        try:
            if await self._extended_lately(found.task, press.member.user_id, now):
                raise InvalidInput(_(ASKED_ALREADY))  # by this member, before a restart
            return await self._queue(who, found.task, request)
        except BaseException:
            self._recent.pop(key, None)
            raise

    async def _queue(self, who: Requester, parent: TaskRecord, request: OmniRequest) -> Ticket:
        return await self._generation.queue(
            who, request, held=True, parent=(parent.id, "extension")
        )

    async def _facts(self, task: TaskRecord) -> ClipFacts:
        path = self.result_path(task.id)
        if not await asyncio.to_thread(path.is_file):
            days = self._settings.storage.keep_media_days
            raise InvalidInput(
                ngettext(
                    "The bot no longer has task #{id}'s video (it keeps videos for {days} day), "
                    "so Kling can't be given it to continue.",
                    "The bot no longer has task #{id}'s video (it keeps videos for {days} days), "
                    "so Kling can't be given it to continue.",
                    days,
                ).format(id=task.id, days=days)
            )
        try:
            return await asyncio.to_thread(probe_clip, "video", path)
        except InvalidInput:
            raise InvalidInput(
                _("Task #{id}'s video could not be read, so it can't be extended.").format(
                    id=task.id
                )
            ) from None

    async def _extended_lately(self, task: TaskRecord, user_id: int, now: datetime) -> bool:
        """After a restart the memory is empty; the store still knows recent extensions."""
        children = await self._store.children_of(task.id, limit=100)
        return any(
            c.extends == task.id and c.user_id == user_id and now - c.created_at < REPEAT_WINDOW
            for c in children
        )

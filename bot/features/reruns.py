"""🔁 on a result makes it again: same settings, same inputs, charged to whoever reacted.

Knows nothing about discord.py: the cog hands in a `Reaction` as plain data. Who may rerun is
config (`reruns.allow`: the requester (or a moderator), or anyone); the bot's own reactions and
reactions on anything but a result are ignored; a double or repeated reaction within a short
window makes one rerun, not several.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.channel_rights import ChannelRights, video_refusal
from bot.domain.errors import (
    InvalidInput,
    KlingBotError,
    MissingPermissions,
    NotYours,
    TaskNotFound,
)
from bot.domain.i18n import N_, _
from bot.domain.moderation import MemberFacts, is_moderator
from bot.domain.records import TaskRecord
from bot.engine.task_engine import utc_now
from bot.features.generation import GenerationService, Ticket
from bot.features.requests import Requester
from bot.settings import Settings
from bot.store import TaskStore

RERUN_EMOJI = "🔁"
REPEAT_WINDOW = timedelta(seconds=30)  # reactions of one member on one result, made one rerun
# A refusal (no credits left …) is said once per member and result in this span: toggling 🔁
# a dozen times must not post a dozen public notices.
NOTICE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction added to a message in a server channel."""

    guild_id: int
    channel_id: int
    message_id: int
    emoji: str
    member: MemberFacts
    is_the_bot: bool = False
    channel_rights: ChannelRights | None = None  # the bot's, in the reaction's channel, if known
    member_name: str | None = None  # as Discord shows it, stored with the new task


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A member pressed one of a result's buttons; the button names the task."""

    guild_id: int
    channel_id: int
    message_id: int
    task_id: int
    member: MemberFacts
    channel_rights: ChannelRights | None = None  # the bot's, where the button was pressed


NOT_YOURS = N_(
    "Only the member who asked for this video (or a moderator) can do that with it. "
    "Make your own with `/video`."
)
ASKED_ALREADY = N_("You asked for a rerun of this video a moment ago; it is on its way.")


def notice_due(last_notice_at: datetime | None, now: datetime) -> bool:
    """Whether a member should be told (again) why their 🔁 on a result was refused."""
    return last_notice_at is None or now - last_notice_at >= NOTICE_WINDOW


def may_rerun(
    task: TaskRecord,
    member: MemberFacts,
    *,
    allow: str,
    config_moderator_roles: tuple[str | int, ...],
    guild_moderator_role_ids: tuple[int, ...],
) -> bool:
    """Whether this member's 🔁 on this task's result counts."""
    if allow == "anyone" or member.user_id == task.user_id:
        return True
    return is_moderator(
        member, config_roles=config_moderator_roles, guild_role_ids=guild_moderator_role_ids
    )


class RerunService:
    """Turns 🔁 reactions on results into new tasks."""

    def __init__(
        self,
        store: TaskStore,
        generation: GenerationService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._generation = generation
        self._settings = settings
        self._clock = clock
        self._recent: dict[tuple[int, int], datetime] = {}  # (message, member) → last rerun
        self._noticed: dict[tuple[int, int], datetime] = {}  # (message, member) → last refusal

    async def on_reaction(self, reaction: Reaction) -> Ticket | None:
        """A held ticket for the rerun, or None when the reaction does not ask for one.

        Raises QuotaExceeded (and friends) when the member may not spend the credits: the
        caller tells them. A refusal repeated within the notice window returns None instead:
        the member was told already. The ticket must be released (or withdrawn) like a
        `/video` one.
        """
        if reaction.emoji != RERUN_EMOJI or reaction.is_the_bot:
            return None
        key = (reaction.message_id, reaction.member.user_id)
        now = self._clock()
        self._recent = {k: t for k, t in self._recent.items() if now - t < REPEAT_WINDOW}
        if key in self._recent:
            return None
        # Claimed before the first await: the second event of a double reaction, handled
        # concurrently, sees the claim and stops here.
        self._recent[key] = now
        try:
            ticket = await self._rerun(reaction)
        except KlingBotError:
            # The claim stays: toggling 🔁 again within the window is not another attempt.
            self._noticed = {k: t for k, t in self._noticed.items() if not notice_due(t, now)}
            if not notice_due(self._noticed.get(key), now):
                return None
            self._noticed[key] = now
            raise
        except BaseException:
            self._recent.pop(key, None)
            raise
        if ticket is None:
            self._recent.pop(key, None)
        return ticket

    async def on_button(self, press: ButtonPress) -> Ticket:
        """A held ticket for the rerun the 🔁 button asks for; a refusal raises its sentence.

        A button and a reaction of one member on one result, within the repeat window, make
        one rerun between them.
        """
        task = await self.result_task(press.guild_id, press.task_id)
        if not await self.allows(task, press.member):
            raise NotYours(_(NOT_YOURS))
        key = (press.message_id, press.member.user_id)
        now = self._clock()
        self._recent = {k: t for k, t in self._recent.items() if now - t < REPEAT_WINDOW}
        if key in self._recent:
            raise InvalidInput(_(ASKED_ALREADY))
        self._recent[key] = now  # claimed before the first await, as for reactions
        try:
            if await self._rerun_stored_lately(press.guild_id, press.member.user_id, task):
                raise InvalidInput(_(ASKED_ALREADY))
            return await self._queue_rerun(
                task, press.guild_id, press.channel_id, press.member, press.channel_rights
            )
        except BaseException:
            self._recent.pop(key, None)  # the refusal was said privately: trying again is fine
            raise

    async def result_task(self, guild_id: int, task_id: int) -> TaskRecord:
        """The task a result button names, if it is one of this server's (else TaskNotFound)."""
        task = await self._store.get_task(task_id)
        if task.guild_id != guild_id:
            raise TaskNotFound(_("There is no task #{id} on this server.").format(id=task_id))
        return task

    async def allows(self, task: TaskRecord, member: MemberFacts) -> bool:
        """Whether this member may rerun (or vary) this task's result."""
        assert task.guild_id is not None
        guild = await self._store.get_guild_settings(task.guild_id)
        return may_rerun(
            task,
            member,
            allow=self._settings.reruns.allow,
            config_moderator_roles=self._settings.quotas.moderator_roles,
            guild_moderator_role_ids=guild.moderator_role_ids,
        )

    async def _rerun(self, reaction: Reaction) -> Ticket | None:
        task = await self._store.task_for_message(reaction.message_id, kind="result")
        if task is None or task.guild_id != reaction.guild_id:
            return None
        if not await self.allows(task, reaction.member):
            return None
        if await self._rerun_stored_lately(reaction.guild_id, reaction.member.user_id, task):
            return None
        return await self._queue_rerun(
            task,
            reaction.guild_id,
            reaction.channel_id,
            reaction.member,
            reaction.channel_rights,
            name=reaction.member_name,
        )

    async def _queue_rerun(
        self,
        task: TaskRecord,
        guild_id: int,
        channel_id: int,
        member: MemberFacts,
        rights: ChannelRights | None,
        *,
        name: str | None = None,
    ) -> Ticket:
        if rights is not None and (refusal := video_refusal(rights)) is not None:
            raise MissingPermissions(refusal)  # before the charge: the result could not be posted
        requester = Requester(guild_id, channel_id, member.user_id, member.role_ids, name=name)
        return await self._generation.queue(requester, task.request, rerun_of=task.id, held=True)

    async def _rerun_stored_lately(self, guild_id: int, user_id: int, task: TaskRecord) -> bool:
        """After a restart the memory is empty; the store still knows recent reruns."""
        now = self._clock()
        recent = await self._store.list_tasks(guild_id=guild_id, user_id=user_id, limit=20)
        return any(t.rerun_of == task.id and now - t.created_at < REPEAT_WINDOW for t in recent)

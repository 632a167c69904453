"""What a member may do with a posted result besides 🔁: remove it (🗑).

Knows nothing about discord.py. The requester or a moderator may remove a result; the record
stays (`/task` says who removed it and when), and it is written before the message is removed.
"""

from __future__ import annotations

from bot.domain.errors import IllegalTransition, InvalidInput, NotYours
from bot.domain.i18n import _
from bot.domain.moderation import MemberFacts
from bot.domain.records import TaskRecord
from bot.features.quotas import ModeratedUseCase, is_server_moderator
from bot.features.reruns import NOT_YOURS


class ResultActions(ModeratedUseCase):
    """Removing results, with the rule of who may."""

    async def remove(self, task: TaskRecord, member: MemberFacts) -> TaskRecord:
        """Record that `member` removes the task's result; the caller then deletes the message.

        Raises NotYours unless the member asked for the video or is a moderator.
        """
        assert task.guild_id is not None
        is_own = task.user_id == member.user_id
        if not is_own and not await is_server_moderator(
            self._store, self._quotas, task.guild_id, member
        ):
            raise NotYours(_(NOT_YOURS))
        try:
            await self._store.mark_result_deleted(
                task.id, by_user_id=member.user_id, now=self._clock()
            )
        except IllegalTransition:
            raise InvalidInput(
                _("Task #{id}'s video is still being posted; try again in a moment.").format(
                    id=task.id
                )
            ) from None
        return await self._store.get_task(task.id)

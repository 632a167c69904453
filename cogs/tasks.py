"""`/tasks` and `/task`: a member's recent videos and one task in full, privately.

Who may see what is decided by `bot/features/task_history.py`; this cog turns options into
plain data and the results into embeds.
"""

from __future__ import annotations

import re

import discord
from discord import app_commands

from bot.discord.answers import explain_failure
from bot.discord.client import KlingBot
from bot.discord.translate import status_embed
from bot.domain.i18n import _
from bot.domain.lifecycle import TaskState
from bot.features.render_lists import task_detail_view, task_list_view
from bot.features.task_history import TaskPage, TaskQueries
from cogs.tickets import (
    MAX_TASK_ID,
    PersistentButtonsCog,
    SpeaksToPresser,
    actor_facts,
    answer,
    guild_id_of,
    think_privately,
)

# Discord takes integer options up to 2**53 - 1; task numbers never get near it.
STATUS_CHOICES = [
    app_commands.Choice(name=state.value.replace("_", " "), value=state.value)
    for state in TaskState
]


PAGE_ID_TEMPLATE = (
    r"kob:tasks:(?P<member>[0-9]{1,20}):(?P<state>[a-z_]{1,20}):(?P<way>newer|older):"
    r"(?P<anchor>[0-9]{1,20})"
)


class PageButton(
    SpeaksToPresser,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=PAGE_ID_TEMPLATE,
):
    """◀ Newer / Older ▶ under `/tasks`: the page to show is in the custom id, so the buttons
    work as long as the answer exists, across restarts."""

    def __init__(
        self, member_id: int, state: TaskState | None, way: str, anchor: int, *, enabled: bool
    ) -> None:
        state_key = "all" if state is None else state.value
        super().__init__(
            discord.ui.Button(
                label=_("◀ Newer") if way == "newer" else _("Older ▶"),
                custom_id=f"kob:tasks:{member_id}:{state_key}:{way}:{anchor}",
                disabled=not enabled,
            )
        )
        self.member_id, self.state, self.way, self.anchor = member_id, state, way, anchor

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls,
        interaction: discord.Interaction[KlingBot],
        item: discord.ui.Button[discord.ui.View],
        match: re.Match[str],
    ) -> PageButton:
        """The page a press asks for."""
        state = None if match["state"] == "all" else TaskState(match["state"])
        return cls(int(match["member"]), state, match["way"], int(match["anchor"]), enabled=True)

    async def callback(self, interaction: discord.Interaction[KlingBot]) -> None:  # type: ignore[override]
        """Show the page in place of the one the button is under."""
        cog = interaction.client.get_cog(TasksCog.__cog_name__)
        assert isinstance(cog, TasksCog)
        try:
            page = await cog.queries.recent(
                guild_id_of(interaction),
                actor_facts(interaction),
                member_id=self.member_id,
                state=self.state,
                before_id=self.anchor if self.way == "older" else None,
                after_id=self.anchor if self.way == "newer" else None,
            )
            await interaction.response.edit_message(
                embed=status_embed(task_list_view(page)), view=page_buttons(page)
            )
        except Exception as error:
            await explain_failure(interaction, error, "the /tasks pages")


def page_buttons(page: TaskPage) -> discord.ui.View | None:
    """The paging buttons of a `/tasks` answer (none when everything fits on one page)."""
    if not page.tasks or not (page.has_more or page.has_newer):
        return None
    view = discord.ui.View(timeout=None)
    newest, oldest = page.tasks[0].id, page.tasks[-1].id
    view.add_item(PageButton(page.user_id, page.state, "newer", newest, enabled=page.has_newer))
    view.add_item(PageButton(page.user_id, page.state, "older", oldest, enabled=page.has_more))
    return view


class TasksCog(PersistentButtonsCog):
    """Look back at tasks."""

    buttons = (PageButton,)

    def __init__(self, bot: KlingBot) -> None:
        super().__init__(bot)
        self.queries = TaskQueries(bot.services.store, bot.services.settings.quotas)

    @app_commands.command(name="tasks", description="Your latest videos, newest first")
    @app_commands.guild_only()
    @app_commands.describe(
        member="Someone else's tasks (moderators only)", status="Only tasks in this state"
    )
    @app_commands.choices(status=STATUS_CHOICES)
    async def tasks(
        self,
        interaction: discord.Interaction[KlingBot],
        member: discord.User | None = None,
        status: app_commands.Choice[str] | None = None,
    ) -> None:
        """The viewer's own tasks, or a member's for a moderator."""
        await think_privately(interaction)
        page = await self.queries.recent(
            guild_id_of(interaction),
            actor_facts(interaction),
            member_id=None if member is None else member.id,
            state=None if status is None else TaskState(status.value),
        )
        await answer(interaction, view=task_list_view(page), buttons=page_buttons(page))

    @app_commands.command(name="task", description="One task in full: status, timings, history")
    @app_commands.guild_only()
    @app_commands.rename(task_id="id")
    @app_commands.describe(task_id="The task's number (shown under its status message)")
    async def task(
        self,
        interaction: discord.Interaction[KlingBot],
        task_id: app_commands.Range[int, 1, MAX_TASK_ID],
    ) -> None:
        """One task of this server: the viewer's own, or anyone's for a moderator."""
        await think_privately(interaction)
        detail = await self.queries.detail(
            guild_id_of(interaction), actor_facts(interaction), task_id
        )
        await answer(interaction, view=task_detail_view(detail, now=interaction.client.clock.now()))


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(TasksCog(bot))

"""`/element add|list|remove`: the server's library of Kling elements, by name.

The library decides who may change it and what a name may be; this cog translates. It also
offers the library's names in the `elements` option of `/video` and `/storyboard`.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.client import KlingBot, Services
from bot.domain.i18n import _
from bot.features.elements import NAME_MAX_CHARS
from bot.features.render_cancel import element_list_view
from cogs.tickets import actor_facts, answer, guild_id_of, suggest_elements, think_privately


class ElementsCog(commands.Cog):
    """The server's element library."""

    element = app_commands.Group(
        name="element", description="The server's library of Kling elements", guild_only=True
    )

    def __init__(self, services: Services) -> None:
        self.library = services.elements

    @element.command(name="add", description="Name a Kling element for this server (moderators)")
    @app_commands.rename(element_id="id")
    @app_commands.describe(
        element_id="The Kling element ID", name="The name members will type, like mascot"
    )
    async def add(
        self,
        interaction: discord.Interaction[KlingBot],
        element_id: app_commands.Range[str, 1, 19],
        name: app_commands.Range[str, 1, NAME_MAX_CHARS],
    ) -> None:
        """Add a name to the library."""
        await think_privately(interaction)
        added = await self.library.add(
            guild_id_of(interaction), actor_facts(interaction), element_id, name
        )
        await answer(
            interaction,
            text=_(
                "Added **{name}** (`{id}`): members can now give `elements:{name}` to `/video` "
                "and `/storyboard`."
            ).format(name=added.name, id=added.element_id),
        )

    @element.command(name="list", description="The elements this server has named")
    async def list_elements(self, interaction: discord.Interaction[KlingBot]) -> None:
        """Everyone may look."""
        await think_privately(interaction)
        await answer(
            interaction, view=element_list_view(await self.library.all(guild_id_of(interaction)))
        )

    @element.command(name="remove", description="Take a name out of the library (moderators)")
    @app_commands.describe(name="The element's name")
    async def remove(
        self,
        interaction: discord.Interaction[KlingBot],
        name: app_commands.Range[str, 1, NAME_MAX_CHARS],
    ) -> None:
        """Remove a name; tasks made with it keep their element."""
        await think_privately(interaction)
        removed = await self.library.remove(
            guild_id_of(interaction), actor_facts(interaction), name
        )
        await answer(
            interaction,
            text=_("Removed **{name}** (`{id}`) from the library.").format(
                name=removed.name, id=removed.element_id
            ),
        )

    @remove.autocomplete("name")
    async def _names(
        self, interaction: discord.Interaction[KlingBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await suggest_elements(self.library, interaction, current)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(ElementsCog(bot.services))

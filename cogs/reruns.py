"""🔁 on a result: hand the reaction to the rerun service, show the new task's status."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.app import KlingBot, member_facts
from bot.engine import utc_now
from bot.errors import KlingBotError
from bot.render import status_view
from bot.reruns import RERUN_EMOJI, Reaction, RerunService
from bot.status_messages import status_embed

log = logging.getLogger("cogs.reruns")
NOTICE_LIFETIME_S = 20  # a refusal has no private channel here: say it briefly, then tidy up


class RerunCog(commands.Cog):
    """Reruns by reaction."""

    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        services = bot.services
        self.generation = services.generation
        self.reruns = RerunService(services.store, services.generation, services.settings)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A 🔁 from someone allowed to rerun this result queues it again."""
        if str(payload.emoji) != RERUN_EMOJI or payload.guild_id is None or payload.member is None:
            return
        is_the_bot = self.bot.user is not None and payload.user_id == self.bot.user.id
        reaction = Reaction(
            payload.guild_id,
            payload.channel_id,
            payload.message_id,
            str(payload.emoji),
            member_facts(payload.member),
            is_the_bot=is_the_bot,
        )
        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        reference = discord.MessageReference(
            message_id=payload.message_id, channel_id=payload.channel_id, fail_if_not_exists=False
        )
        try:
            ticket = await self.reruns.on_reaction(reaction)
        except KlingBotError as refusal:
            try:
                await channel.send(
                    f"<@{payload.user_id}> {refusal.member_message}",
                    reference=reference,
                    allowed_mentions=discord.AllowedMentions(
                        everyone=False,
                        roles=False,
                        users=[discord.Object(payload.user_id)],
                        replied_user=False,
                    ),
                    delete_after=NOTICE_LIFETIME_S,
                )
            except discord.HTTPException:
                log.warning("could not tell user_id=%s why a rerun was refused", payload.user_id)
            return
        if ticket is None:
            return
        try:
            view = status_view(ticket.task, position=None, now=utc_now())
            status = await channel.send(
                embed=status_embed(view),
                reference=reference,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException:
            log.warning("rerun status not posted; withdrawing %s", ticket.task.log_context)
            await self.generation.withdraw(ticket.task.id)
        else:
            self.bot.services.status.posted(ticket.task, status.id)
            await self.generation.release(ticket, status_message_id=status.id)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(RerunCog(bot))

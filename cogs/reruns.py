"""🔁 on a result: hand the reaction to the rerun service, show the new task's status."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.discord.client import KlingBot
from bot.discord.delivery import PostChannel
from bot.discord.language import in_server_language
from bot.discord.translate import cancel_view, channel_rights, member_facts, status_embed
from bot.discord.uploads import TRANSIENT_ERRORS
from bot.domain.channel_rights import ChannelRights
from bot.domain.errors import KlingBotError
from bot.domain.i18n import _, translated
from bot.features.render import status_view
from bot.features.reruns import RERUN_EMOJI, Reaction

log = logging.getLogger("cogs.reruns")
NOTICE_LIFETIME_S = 20  # a refusal has no private channel here: say it briefly, then tidy up


class RerunCog(commands.Cog):
    """Reruns by reaction."""

    def __init__(self, bot: KlingBot) -> None:
        self.bot = bot
        services = bot.services
        self.generation = services.generation
        self.reruns = services.reruns

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Handle the reaction, then say so: `on_rerun_reaction_handled(payload)`.

        The event is what tests (and extensions) wait on to know a reaction was dealt with,
        whatever came of it, including nothing (someone else's 🔁, a repeat, another emoji).
        """
        try:
            # No interaction, so no member's locale: what is said in the channel is in the
            # server's language.
            guild = None if payload.guild_id is None else self.bot.get_guild(payload.guild_id)
            with in_server_language(guild):  # a reaction comes on this process's own shard
                await self._on_reaction(payload)
        finally:
            self.bot.dispatch("rerun_reaction_handled", payload)

    async def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        """A 🔁 from someone allowed to rerun this result queues it again."""
        if str(payload.emoji) != RERUN_EMOJI or payload.guild_id is None or payload.member is None:
            return
        is_the_bot = self.bot.user is not None and payload.user_id == self.bot.user.id
        rights = self._rights_in(payload.guild_id, payload.channel_id)
        reaction = Reaction(
            payload.guild_id,
            payload.channel_id,
            payload.message_id,
            str(payload.emoji),
            member_facts(payload.member),
            is_the_bot=is_the_bot,
            channel_rights=rights,
            member_name=payload.member.display_name,
        )
        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        reference = discord.MessageReference(
            message_id=payload.message_id, channel_id=payload.channel_id, fail_if_not_exists=False
        )
        try:
            ticket = await self.reruns.on_reaction(reaction)
        except KlingBotError as refusal:
            if rights is not None and not rights.can_post:
                await self._tell_privately(payload.member, payload.channel_id, refusal)
                return
            try:
                await channel.send(
                    f"<@{payload.user_id}> {translated(refusal.member_message)}",
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
            view = status_view(ticket.task, position=None, now=self.bot.clock.now())
            status = await channel.send(
                embed=status_embed(view),
                reference=reference,
                allowed_mentions=discord.AllowedMentions.none(),
                view=cancel_view(ticket.task.id),
            )
        except Exception:
            # Refused, timed out or cut off (a network error is not an HTTPException): the
            # reactor never saw the rerun, so it must not reach the API, charged.
            log.warning(
                "rerun status not posted; withdrawing %s", ticket.task.log_context, exc_info=True
            )
            await self.generation.withdraw(ticket.task.id)
        else:
            self.bot.services.status.posted(ticket.task, status.id)
            await self.generation.release(ticket, status_message_id=status.id)

    def _rights_in(self, guild_id: int, channel_id: int) -> ChannelRights | None:
        """The bot's permissions where the reaction was made, from the cache (None if unknown)."""
        guild = self.bot.get_guild(guild_id)
        channel = self.bot.get_channel(channel_id)
        if guild is None or guild.me is None or not isinstance(channel, PostChannel):
            return None
        return channel_rights(channel.permissions_for(guild.me), channel)

    async def _tell_privately(
        self, member: discord.Member, channel_id: int, refusal: KlingBotError
    ) -> None:
        """A refusal where the bot can't post: in a direct message, if the member takes them."""
        try:
            await member.send(
                _("About your {emoji} in {channel}: {refusal}").format(
                    emoji=RERUN_EMOJI,
                    channel=f"<#{channel_id}>",
                    refusal=translated(refusal.member_message),
                ),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.HTTPException, *TRANSIENT_ERRORS):
            log.warning("could not tell user_id=%s why a rerun was refused", member.id)


async def setup(bot: KlingBot) -> None:
    """discord.py extension entry point."""
    await bot.add_cog(RerunCog(bot))

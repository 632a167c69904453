"""Answering a member whose task was accepted: the status message, their inputs, the release."""

from __future__ import annotations

import discord

from bot.app import KlingBot
from bot.engine import utc_now
from bot.errors import KlingBotError
from bot.generation import GenerationService, Requester, Ticket
from bot.media import AttachmentInfo
from bot.render import status_view
from bot.status_messages import status_embed


def requester_of(interaction: discord.Interaction[KlingBot]) -> Requester:
    """Who is asking, and where, as plain data."""
    assert interaction.guild_id is not None and interaction.channel_id is not None
    user = interaction.user
    role_ids = tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
    return Requester(interaction.guild_id, interaction.channel_id, user.id, role_ids)


def attachment_infos(**slots: discord.Attachment | None) -> tuple[AttachmentInfo, ...]:
    """Discord's metadata of the attached files, by option name."""
    return tuple(
        AttachmentInfo(
            slot=slot,
            filename=attachment.filename,
            url=attachment.url,
            size_bytes=attachment.size,
            content_type=attachment.content_type,
            width=attachment.width,
            height=attachment.height,
        )
        for slot, attachment in slots.items()
        if attachment is not None
    )


async def answer_with_ticket(
    interaction: discord.Interaction[KlingBot],
    generation: GenerationService,
    ticket: Ticket,
    attachments: tuple[AttachmentInfo, ...],
) -> None:
    """Acknowledge with the public status message, keep the inputs, then let the task go.

    The ticket is held until here: if Discord refuses the answer, or an input turns out to be
    unusable, the task is withdrawn with a refund before it could reach the API.
    """
    try:
        view = status_view(ticket.task, position=None, now=utc_now())
        try:
            response = await interaction.response.send_message(
                embed=status_embed(view), allowed_mentions=discord.AllowedMentions.none()
            )
        except Exception:
            # Refused, timed out or cut off: the member saw "the application did not respond"
            # and will likely try again. Don't charge for a task they never heard of.
            await generation.withdraw(ticket.task.id)
            raise
        interaction.client.note_acknowledged(interaction)
        if response.message_id is not None:
            await generation.attach_status_message(ticket.task.id, response.message_id)
        try:
            await generation.keep_inputs(ticket, attachments)
        except Exception as failure:
            reason = (
                failure.member_message
                if isinstance(failure, KlingBotError)
                else "The bot could not keep your attachments, so the task was withdrawn."
            )
            await generation.withdraw(ticket.task.id, reason)
            raise  # the error handler tells the member privately why
    finally:
        generation.release(ticket)

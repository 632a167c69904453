"""discord.py objects to plain data and back: the bot's permissions in a channel as
`ChannelRights`, the buttons under results and status messages, mentions that ping only the
requester. The rest of the bot reasons on the plain side.
"""

from __future__ import annotations

import discord

from bot.discord.buttons import RESULT_BUTTONS, ButtonSpec, cancel_custom_id, result_custom_id
from bot.domain.channel_rights import ChannelRights
from bot.domain.i18n import _, translated
from bot.domain.moderation import MemberFacts
from bot.features.render import StatusView


def channel_rights(permissions: discord.Permissions, channel: object) -> ChannelRights:
    """discord.py's view of the bot's permissions in a channel or thread, as plain data."""
    is_thread = isinstance(channel, discord.Thread)
    return ChannelRights(
        view_channel=permissions.view_channel,
        send_messages=(
            permissions.send_messages_in_threads if is_thread else permissions.send_messages
        ),
        embed_links=permissions.embed_links,
        attach_files=permissions.attach_files,
        read_message_history=permissions.read_message_history,
        is_thread=is_thread,
        is_archived=isinstance(channel, discord.Thread) and channel.archived,
        is_locked=isinstance(channel, discord.Thread) and channel.locked,
        manage_threads=permissions.manage_threads,
    )


def result_view(task_id: int) -> discord.ui.View:
    """🔁 Rerun, 🎲 Variation and 🗑 Delete, as plain components.

    The view is stopped before it is sent, so discord.py keeps nothing about it in memory: a
    press is handled by the dynamic items registered at start (`cogs.results`), which read the
    task from the button's custom id, in this process or any later one.
    """
    view = discord.ui.View(timeout=None)
    for spec in RESULT_BUTTONS:
        view.add_item(result_button(spec, task_id))
    view.stop()
    return view


def result_button(spec: ButtonSpec, task_id: int) -> discord.ui.Button[discord.ui.View]:
    """One of a result's buttons, for `task_id`."""
    style = discord.ButtonStyle.danger if spec.is_danger else discord.ButtonStyle.secondary
    return discord.ui.Button(
        label=translated(spec.label),
        emoji=spec.emoji,
        custom_id=result_custom_id(spec.action, task_id),
        style=style,
    )


def cancel_view(task_id: int) -> discord.ui.View:
    """The status message's 🛑 Cancel button, as a plain component (see `result_view`)."""
    view = discord.ui.View(timeout=None)
    view.add_item(cancel_button(task_id))
    view.stop()
    return view


def cancel_button(task_id: int) -> discord.ui.Button[discord.ui.View]:
    """The Cancel button of a task's status message."""
    return discord.ui.Button(
        label=_("Cancel"),
        emoji="🛑",
        custom_id=cancel_custom_id(task_id),
        style=discord.ButtonStyle.danger,
    )


def requester_only(user_id: int | None) -> discord.AllowedMentions:
    """Mentions that ping the requester and no one else, whatever the text says."""
    if user_id is None:
        return discord.AllowedMentions.none()
    # Every flag is spelled out: AllowedMentions(users=[…]) alone leaves everyone/roles True,
    # and the client-wide defaults are merged into whatever is left unset.
    return discord.AllowedMentions(
        everyone=False, users=[discord.Object(id=user_id)], roles=False, replied_user=False
    )


def status_embed(view: StatusView) -> discord.Embed:
    """The discord.py embed for a rendered status view."""
    embed = discord.Embed(
        title=view.title,
        description=view.description or None,
        colour=discord.Colour(view.colour),
        timestamp=view.timestamp,
    )
    for field in view.fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    embed.set_footer(text=view.footer)
    return embed


def member_facts(member: discord.Member) -> MemberFacts:
    """What the moderator rule needs to know about a member, as plain data."""
    return MemberFacts(
        user_id=member.id,
        permissions=member.guild_permissions.value,
        role_ids=tuple(role.id for role in member.roles),
        role_names=tuple(role.name for role in member.roles),
        is_owner=member.guild.owner_id == member.id,
    )


def facts_of(user: discord.User | discord.Member) -> MemberFacts:
    """Whoever pressed or typed, as the moderator rule sees them: a `User` (not a member of the
    server) has no rights there."""
    if not isinstance(user, discord.Member):
        return MemberFacts(user.id, 0)
    return member_facts(user)

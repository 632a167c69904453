"""Reactions on messages: recorded on the message and echoed on the gateway, like Discord."""

from __future__ import annotations

from bot.fakes.discord.gateway import Gateway
from bot.fakes.discord.messages import Message, emoji_payload
from bot.fakes.discord.models import Member


class Reactions:
    """The reaction rules of `FakeState`, which owns the gateway they are echoed on."""

    gateway: Gateway

    def add_reaction(self, message: Message, member: Member, emoji: str) -> bool:
        """Record a reaction and echo MESSAGE_REACTION_ADD; False if it was already there."""
        users = message.reactions.setdefault(emoji, [])
        if member.id in users:
            return False
        users.append(member.id)
        self.gateway.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(member.id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(message.guild_id),
                "member": member.payload(),
                "emoji": emoji_payload(emoji),
                "message_author_id": str(message.author.id),
                "burst": False,
                "burst_colors": [],
                "type": 0,
            },
        )
        return True

    def remove_reaction(self, message: Message, user_id: int, emoji: str) -> bool:
        """Remove a reaction and echo MESSAGE_REACTION_REMOVE; False if there was none."""
        users = message.reactions.get(emoji, [])
        if user_id not in users:
            return False
        users.remove(user_id)
        self.gateway.dispatch(
            "MESSAGE_REACTION_REMOVE",
            {
                "user_id": str(user_id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(message.guild_id),
                "emoji": emoji_payload(emoji),
                "burst": False,
                "type": 0,
            },
        )
        return True

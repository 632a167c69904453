"""A strict loopback fake Discord (REST, gateway, CDN) for the real discord.py client.

Start one with ``async with FakeDiscord() as fake:``, point discord.py at ``fake.api_base`` and
``fake.gateway_url``, then drive members with ``fake.member(...)``.
"""

from bot.fakes.discord.commands import DriverError
from bot.fakes.discord.interaction_handle import InteractionHandle
from bot.fakes.discord.interactions import Ack
from bot.fakes.discord.member import Attachment, MemberDriver
from bot.fakes.discord.messages import Message, Pings, StoredFile
from bot.fakes.discord.models import Channel, Guild, Member, Role, User
from bot.fakes.discord.permissions import Perm, base_permissions, channel_permissions
from bot.fakes.discord.recording import RequestRecord
from bot.fakes.discord.server import DEFAULT_TOKEN, FakeDiscord
from bot.fakes.discord.snowflakes import Clock
from bot.fakes.discord.wire import DiscordError
from bot.fakes.discord.world import DefaultWorld, World

__all__ = [
    "DEFAULT_TOKEN",
    "Ack",
    "Attachment",
    "Channel",
    "Clock",
    "DefaultWorld",
    "DiscordError",
    "DriverError",
    "FakeDiscord",
    "Guild",
    "InteractionHandle",
    "Member",
    "MemberDriver",
    "Message",
    "Perm",
    "Pings",
    "RequestRecord",
    "Role",
    "StoredFile",
    "User",
    "World",
    "base_permissions",
    "channel_permissions",
]

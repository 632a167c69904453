"""The member driver: what a person in the guild does (slash commands, reactions, modals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.fakes.discord.bodies import Body
from bot.fakes.discord.commands import (
    ATTACHMENT,
    CHANNEL,
    MENTIONABLE,
    MESSAGE_COMMAND,
    ROLE,
    USER,
    DriverError,
    build_options,
)
from bot.fakes.discord.components import BUTTON, find_component
from bot.fakes.discord.interaction_handle import InteractionHandle
from bot.fakes.discord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
)
from bot.fakes.discord.messages import Message, StoredFile
from bot.fakes.discord.models import JSON, Channel, Member, Role, User
from bot.fakes.discord.permissions import Perm, base_permissions, channel_permissions
from bot.fakes.discord.state import FakeState


@dataclass(frozen=True)
class Attachment:
    """A file a member attaches to a slash-command option: bytes in memory or a path on disk."""

    filename: str
    data: bytes | None = None
    path: Path | None = None
    content_type: str | None = None
    size: tuple[int, int] | None = None  # (width, height) for images and videos

    @classmethod
    def from_path(cls, path: str | Path, **kwargs: Any) -> Attachment:
        """An attachment served straight from a file (never loaded whole)."""
        path = Path(path)
        return cls(filename=path.name, path=path, **kwargs)


class MemberDriver:
    """A guild member at the keyboard, in one channel."""

    def __init__(self, state: FakeState, member: Member, channel: Channel) -> None:
        self._state = state
        self.member = member
        self.channel = channel

    def in_channel(self, channel: Channel) -> MemberDriver:
        """The same member, typing in another channel."""
        return MemberDriver(self._state, self.member, channel)

    async def run(
        self,
        command: str,
        *path: str,
        backdate_s: float = 0.0,
        ignore_default_permissions: bool = False,
        **options: Any,
    ) -> InteractionHandle:
        """``/command [group] [sub] name=value…``, typed from the registered schema.

        ``backdate_s`` mints the interaction that many seconds in the past (its token expires
        sooner) while the 3 s ack clock still starts now.
        """
        schema = self._command(command, ignore_default_permissions)
        resolved: dict[str, dict[str, JSON]] = {}
        values = {name: await self._store(value) for name, value in options.items()}
        data: JSON = {
            "id": schema["id"],
            "name": command,
            "type": 1,
            "options": build_options(schema, path, values, self._resolver(resolved)),
        }
        if "guild_id" in schema:
            data["guild_id"] = schema["guild_id"]
        if resolved:
            data["resolved"] = resolved
        record = self._state.dispatch_interaction(
            self.member,
            self.channel,
            interaction_type=APPLICATION_COMMAND,
            name=" ".join((command, *path)),
            data=data,
            backdate_s=backdate_s,
        )
        return InteractionHandle(self._state, record)

    async def post(self, content: str = "", *, files: tuple[Attachment, ...] = ()) -> Message:
        """Send a message in the channel, with files attached (MESSAGE_CREATE to the bot)."""
        guild = self._state.world.guilds[self.member.guild_id]
        need = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if files else 0)
        if need & ~channel_permissions(guild, self.channel, self.member):
            raise DriverError(f"{self.member.user.username} may not post in #{self.channel.name}")
        if not content and not files:
            raise DriverError("a message needs content or a file")
        message = self._state.post_message(
            guild, self.channel, self.member.user, Body({"content": content}), validate=False
        )
        for file in files:
            stored = await self._store(file)
            message.attachments.append(replace(stored, ephemeral=False))
        return message

    async def run_message_command(self, name: str, message: Message | int) -> InteractionHandle:
        """Right-click a message → Apps → ``name`` (a type-3 command; the message is resolved)."""
        target = self._visible(message)
        guild = self._state.world.guilds[self.member.guild_id]
        schema = self._state.commands.find(name, guild.id, kind=MESSAGE_COMMAND)
        if schema is None:
            raise DriverError(f"no message command {name!r} is registered; did the bot sync?")
        data: JSON = {
            "id": schema["id"],
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": str(target.id),
            "resolved": {"messages": {str(target.id): self._state.message_payload(target)}},
        }
        if "guild_id" in schema:
            data["guild_id"] = schema["guild_id"]
        record = self._state.dispatch_interaction(
            self.member,
            self.channel,
            interaction_type=APPLICATION_COMMAND,
            name=name,
            data=data,
        )
        return InteractionHandle(self._state, record)

    async def autocomplete(
        self, command: str, *path: str, focused: str, **options: Any
    ) -> InteractionHandle:
        """Type into option ``focused``; the bot should answer with choices (callback type 8)."""
        schema = self._command(command, ignore_default_permissions=True)
        resolved: dict[str, dict[str, JSON]] = {}
        values = {name: await self._store(value) for name, value in options.items()}
        opts = build_options(schema, path, values, self._resolver(resolved), focused=focused)
        data: JSON = {"id": schema["id"], "name": command, "type": 1, "options": opts}
        if "guild_id" in schema:
            data["guild_id"] = schema["guild_id"]
        record = self._state.dispatch_interaction(
            self.member, self.channel, interaction_type=AUTOCOMPLETE, name=command, data=data
        )
        return InteractionHandle(self._state, record)

    async def click(self, message: Message | int, custom_id: str) -> InteractionHandle:
        """Click a button on a message, as the Discord client allows it (else DriverError).

        Any message the member sees may be clicked, their own ephemeral answers included; the
        button must be there and enabled. The bot gets a MESSAGE_COMPONENT interaction carrying
        the message and the button's ``custom_id``.
        """
        target = self._clickable_message(message)
        component = find_component(target.components, custom_id)
        if component is None:
            shown = [c.get("custom_id") for c in _buttons(target.components)]
            raise DriverError(f"message {target.id} has no button {custom_id!r} (it has {shown})")
        if component.get("type") != BUTTON:
            raise DriverError(f"{custom_id!r} is a select menu, not a button")
        if component.get("disabled"):
            raise DriverError(f"the button {custom_id!r} is disabled")
        guild, channel = self._state.channel(target.channel_id)
        if not channel_permissions(guild, channel, self.member) & Perm.VIEW_CHANNEL:
            raise DriverError(f"{self.member.user.username} can't see #{channel.name}")
        record = self._state.dispatch_interaction(
            self.member,
            channel,
            interaction_type=MESSAGE_COMPONENT,
            name=custom_id,
            data={"custom_id": custom_id, "component_type": BUTTON},
            message=target,
        )
        return InteractionHandle(self._state, record)

    def buttons(self, message: Message | int) -> list[JSON]:
        """The buttons this member sees on a message, in order."""
        return _buttons(self._clickable_message(message).components)

    def _clickable_message(self, message: Message | int) -> Message:
        message_id = message if isinstance(message, int) else message.id
        target = self._state.messages.get(message_id)
        if target is None or target.deleted:
            raise DriverError(f"message {message_id} is not visible in any channel")
        if target.is_ephemeral:
            owner = target.interaction_user
            if owner is None or owner.id != self.member.id:
                raise DriverError(f"message {message_id} is someone else's private answer")
        return target

    async def say(self, content: str) -> Message:
        """Type an ordinary message in the channel (MESSAGE_CREATE), as the client allows it."""
        guild = self._state.world.guilds[self.member.guild_id]
        have = channel_permissions(guild, self.channel, self.member)
        if (Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES) & ~have:
            raise DriverError(f"{self.member.user.username} may not post in #{self.channel.name}")
        body = Body(payload={"content": content})
        return self._state.post_message(guild, self.channel, self.member.user, body)

    async def react(self, message: Message | int, emoji: str) -> None:
        """Add a reaction the way the Discord client allows it (else DriverError)."""
        target = self._visible(message)
        if target.guild_id is None:
            raise DriverError(f"message {target.id} is a direct message to someone else")
        guild, channel = self._state.channel(target.channel_id)
        have = channel_permissions(guild, channel, self.member)
        need = Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY
        if not target.reactions.get(emoji):
            need |= Perm.ADD_REACTIONS
        if need & ~have:
            raise DriverError(f"{self.member.user.username} may not react in #{channel.name}")
        self._state.add_reaction(target, self.member, emoji)

    async def unreact(self, message: Message | int, emoji: str) -> None:
        """Remove this member's reaction (MESSAGE_REACTION_REMOVE)."""
        self._state.remove_reaction(self._visible(message), self.member.id, emoji)

    def _visible(self, message: Message | int) -> Message:
        message_id = message if isinstance(message, int) else message.id
        target = self._state.messages.get(message_id)
        if target is None or target.deleted or target.is_ephemeral:
            raise DriverError(f"message {message_id} is not visible in any channel")
        return target

    def _command(self, name: str, ignore_default_permissions: bool) -> JSON:
        guild = self._state.world.guilds[self.member.guild_id]
        command = self._state.commands.find(name, guild.id)
        if command is None:
            known = sorted(
                {*self._state.commands.scope(guild.id), *self._state.commands.global_commands}
            )
            raise DriverError(f"/{name} is not registered (registered: {known}); did the bot sync?")
        if (
            not channel_permissions(guild, self.channel, self.member)
            & Perm.USE_APPLICATION_COMMANDS
        ):
            raise DriverError(
                f"{self.member.user.username} cannot use commands in #{self.channel.name}"
            )
        required = command.get("default_member_permissions")
        if required is not None and not ignore_default_permissions:
            have = base_permissions(guild, self.member)
            needed = int(required) or Perm.ADMINISTRATOR  # "0" means administrators only
            if needed & ~have and not have & Perm.ADMINISTRATOR:
                raise DriverError(
                    f"/{name} is hidden from {self.member.user.username} by "
                    f"default_member_permissions={required}; pass ignore_default_permissions=True "
                    "to simulate an admin override"
                )
        return command

    async def _store(self, value: Any) -> Any:
        if not isinstance(value, Attachment):
            return value
        cdn = self._state.cdn
        if value.path is not None:
            return await cdn.store_path(
                self.channel.id,
                value.path,
                ephemeral=True,
                content_type=value.content_type,
                size=value.size,
            )
        return cdn.store_bytes(
            self.channel.id,
            value.filename,
            value.data or b"",
            ephemeral=True,
            content_type=value.content_type,
            size=value.size,
        )

    def _resolver(self, resolved: dict[str, dict[str, JSON]]) -> Callable[[int, JSON, Any], str]:
        guild = self._state.world.guilds[self.member.guild_id]

        def resolve(kind: int, option: JSON, value: Any) -> str:
            value = self._by_id(kind, value)
            if kind == ATTACHMENT and isinstance(value, StoredFile):
                resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
                return str(value.id)
            if kind == CHANNEL and isinstance(value, Channel):
                allowed = option.get("channel_types")
                if allowed and value.type not in allowed:
                    raise DriverError(
                        f"option {option['name']} does not accept channel type {value.type}"
                    )
                data = value.payload()
                data["permissions"] = str(channel_permissions(guild, value, self.member))
                resolved.setdefault("channels", {})[str(value.id)] = data
                return str(value.id)
            if kind in (ROLE, MENTIONABLE) and isinstance(value, Role):
                resolved.setdefault("roles", {})[str(value.id)] = value.payload()
                return str(value.id)
            if kind in (USER, MENTIONABLE) and isinstance(value, Member | User):
                user = value.user if isinstance(value, Member) else value
                resolved.setdefault("users", {})[str(user.id)] = user.payload()
                member = guild.members.get(user.id)
                if member is not None:
                    perms = channel_permissions(guild, self.channel, member)
                    payload = member.payload(with_user=False, permissions=perms)
                    resolved.setdefault("members", {})[str(user.id)] = payload
                return str(user.id)
            raise DriverError(f"option {option['name']} (type {kind}) cannot take {value!r}")

        return resolve

    def _by_id(self, kind: int, value: Any) -> Any:
        """Let snowflake options take plain IDs too (the control endpoints send those)."""
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return value
        guild = self._state.world.guilds[self.member.guild_id]
        if kind in (USER, MENTIONABLE) and value in self._state.world.users:
            return guild.members.get(value) or self._state.world.users[value]
        if kind in (ROLE, MENTIONABLE) and value in guild.roles:
            return guild.roles[value]
        if kind == CHANNEL and value in guild.channels:
            return guild.channels[value]
        if kind == ATTACHMENT and value in self._state.cdn.files:
            return self._state.cdn.files[value]
        return value


def _buttons(components: list[JSON]) -> list[JSON]:
    found: list[JSON] = []
    for row in components:
        found += [c for c in row.get("components", []) if c.get("type") == BUTTON]
    return found

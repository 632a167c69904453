"""What a test watches of one interaction a member started: its acknowledgement, the messages
it answered with, its errors, the modal it opened (and submitting that modal)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.fakes.discord.commands import DriverError
from bot.fakes.discord.interactions import (
    CALLBACK_DEFERRED,
    MODAL_SUBMIT,
    Ack,
    InteractionRecord,
)
from bot.fakes.discord.messages import Message
from bot.fakes.discord.models import JSON
from bot.fakes.discord.state import FakeState
from bot.fakes.discord.wire import DiscordError


class InteractionHandle:
    """What a test can watch about one interaction it started."""

    def __init__(self, state: FakeState, record: InteractionRecord) -> None:
        self._state = state
        self.record = record

    @property
    def id(self) -> int:
        """The interaction's snowflake."""
        return self.record.id

    @property
    def ack(self) -> Ack | None:
        """How the bot acknowledged it so far (None if not yet)."""
        return self.record.ack

    @property
    def messages(self) -> list[Message]:
        """What the member sees: original response then followups, with ephemeral flags."""
        return self.record.messages

    @property
    def original(self) -> Message | None:
        """The original response message (None for modals, autocomplete, or no ack)."""
        return self.record.original

    @property
    def errors(self) -> list[DiscordError]:
        """Errors the fake answered to the bot's calls for this interaction (10062, 40060 …)."""
        return list(self.record.errors)

    @property
    def modal(self) -> JSON | None:
        """The modal the bot opened, if it answered with type 9."""
        return self.record.modal

    @property
    def choices(self) -> list[JSON] | None:
        """Autocomplete choices the bot returned (type 8)."""
        return self.record.choices

    def expire_token(self) -> None:
        """Make the 15-minute token invalid now (every token route answers 401/50027)."""
        self.record.token_revoked = True

    async def wait_until(
        self, predicate: Callable[[InteractionRecord], bool], timeout_s: float = 5.0
    ) -> None:
        """Wait for the bot to make ``predicate(record)`` true; fail with what it did instead."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self.record.changed.clear()
                    if predicate(self.record):
                        return
                    await self.record.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout_s}s: {self.describe()}") from None

    async def wait_ack(self, timeout_s: float = 5.0) -> Ack:
        """Wait for the acknowledgement (type and latency)."""
        await self.wait_until(lambda r: r.ack is not None, timeout_s)
        assert self.record.ack is not None
        return self.record.ack

    async def wait_response(self, timeout_s: float = 5.0) -> list[Message]:
        """Wait until the member sees an answer (not just "thinking…"), then return it."""

        def answered(record: InteractionRecord) -> bool:
            if record.ack is None:
                return False
            if record.ack.type != CALLBACK_DEFERRED:
                return True
            return bool(record.followups) or (
                record.original is not None and not record.original.is_loading
            )

        await self.wait_until(answered, timeout_s)
        return self.messages

    async def wait_errors(self, count: int = 1, timeout_s: float = 5.0) -> list[DiscordError]:
        """Wait until the fake has refused ``count`` of the bot's calls for this interaction."""
        await self.wait_until(lambda r: len(r.errors) >= count, timeout_s)
        return self.errors

    async def submit_modal(self, values: dict[str, str]) -> InteractionHandle:
        """Fill in the modal the bot opened and submit it (a type-5 interaction).

        A modal opened from a button carries that button's message, as Discord sends it.
        """
        modal = self.record.modal
        if modal is None:
            raise DriverError("the bot did not open a modal for this interaction")
        components = [_submitted(c, values) for c in modal.get("components", [])]
        record = self._state.dispatch_interaction(
            self.record.member,
            self.record.channel,
            interaction_type=MODAL_SUBMIT,
            name=str(modal["custom_id"]),
            data={"custom_id": modal["custom_id"], "components": components},
            message=self.record.message,
        )
        return InteractionHandle(self._state, record)

    def modal_value(self, custom_id: str) -> str | None:
        """The value the bot prefilled in the opened modal's text input ``custom_id``."""
        fields = self.modal_fields()
        if custom_id not in fields:
            raise DriverError(f"the modal has no text input {custom_id!r}")
        return fields[custom_id]

    def modal_fields(self) -> dict[str, str | None]:
        """The opened modal's text inputs, in order: custom_id → the value the bot prefilled."""
        modal = self.record.modal
        if modal is None:
            raise DriverError("the bot did not open a modal for this interaction")
        return {
            str(c.get("custom_id")): None if c.get("value") is None else str(c["value"])
            for c in _inputs(modal.get("components", []))
        }

    def describe(self) -> str:
        """A one-paragraph account of the interaction, for failure messages."""
        record = self.record
        shown = [
            f"{m.id}:{'eph ' if m.is_ephemeral else ''}{m.content[:60]!r}" for m in self.messages
        ]
        errors = [f"{e.status}/{e.code}" for e in record.errors]
        return f"/{record.name} ack={record.ack} messages={shown} errors={errors}"


def _inputs(components: list[JSON]) -> list[JSON]:
    """The text inputs of a modal, wherever they sit (in a label or an action row)."""
    found: list[JSON] = []
    for component in components:
        if component.get("type") == 1:
            found += _inputs(component.get("components", []))
        elif component.get("type") == 18:
            found += _inputs([component["component"]])
        else:
            found.append(component)
    return found


def _submitted(component: JSON, values: dict[str, str]) -> JSON:
    if component.get("type") == 1:  # action row of text inputs (deprecated but accepted)
        return {"type": 1, "components": [_submitted(c, values) for c in component["components"]]}
    if component.get("type") == 18:  # label wrapping one component
        return {"type": 18, "component": _submitted(component["component"], values)}
    custom_id = str(component.get("custom_id"))
    return {
        "type": component.get("type"),
        "custom_id": custom_id,
        "value": values.get(custom_id, ""),
    }

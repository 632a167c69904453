"""Message components as Discord takes them: action rows of buttons or one select, validated.

Only the classic layout is modelled (up to 5 action rows, each up to 5 buttons or one select
menu); a message flagged as Components V2 is accepted as sent. The rules are the cheap ones
Discord enforces on every message body (components reference, "Action Row", "Button"):
a `custom_id` of 1 to 100 characters, unique in the message; a link button has a `url` and no
`custom_id`; a button shows a label (up to 80 characters) or an emoji.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.fakes.discord.models import JSON
from bot.fakes.discord.wire import invalid_form

ACTION_ROW = 1
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})  # string, user, role, mentionable, channel selects
BUTTON_LINK = 5
BUTTON_PREMIUM = 6
MAX_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_CUSTOM_ID_CHARS = 100
MAX_LABEL_CHARS = 80
MAX_SELECT_OPTIONS = 25
FLAG_COMPONENTS_V2 = 1 << 15


def validate_components(components: Any, *, flags: int = 0) -> None:
    """Discord's checks on a message's ``components`` (400/50035 naming the field)."""
    if components is None:
        return
    if not isinstance(components, list):
        raise invalid_form("components", "BASE_TYPE_BAD_TYPE", "Must be an array.")
    if flags & FLAG_COMPONENTS_V2:
        return  # the newer layout: not used by this bot, accepted as sent
    if len(components) > MAX_ROWS:
        raise invalid_form(
            "components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROWS} or fewer in length."
        )
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        path = f"components.{row_index}"
        if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
            raise invalid_form(
                f"{path}.type", "UI_COMPONENT_INVALID", "Only action rows may be at the top level."
            )
        _validate_row(row, path, seen)


def _validate_row(row: JSON, path: str, seen: set[str]) -> None:
    children = row.get("components")
    if not isinstance(children, list) or not children:
        raise invalid_form(
            f"{path}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    kinds = [child.get("type") if isinstance(child, dict) else None for child in children]
    if any(kind in SELECT_TYPES for kind in kinds) and len(children) != 1:
        raise invalid_form(
            f"{path}.components",
            "UI_COMPONENT_INVALID",
            "A select menu must be alone in its action row.",
        )
    if len(children) > MAX_BUTTONS_PER_ROW:
        raise invalid_form(
            f"{path}.components",
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {MAX_BUTTONS_PER_ROW} in length.",
        )
    for index, child in enumerate(children):
        child_path = f"{path}.components.{index}"
        kind = kinds[index]
        if kind == BUTTON:
            _validate_button(child, child_path, seen)
        elif kind in SELECT_TYPES:
            _validate_select(child, child_path, seen)
        else:
            raise invalid_form(
                f"{child_path}.type",
                "UI_COMPONENT_INVALID",
                f"Component type {kind} can't be in a message's action row.",
            )


def _validate_button(button: JSON, path: str, seen: set[str]) -> None:
    style = button.get("style")
    if not isinstance(style, int) or not 1 <= style <= BUTTON_PREMIUM:
        raise invalid_form(f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of 1-6.")
    label = button.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL_CHARS):
        raise invalid_form(
            f"{path}.label",
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_LABEL_CHARS} or fewer in length.",
        )
    if style == BUTTON_LINK:
        if not button.get("url"):
            raise invalid_form(f"{path}.url", "BASE_TYPE_REQUIRED", "This field is required")
        if "custom_id" in button:
            raise invalid_form(
                f"{path}.custom_id",
                "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                "A link button cannot have a custom id.",
            )
    elif style != BUTTON_PREMIUM:
        _check_custom_id(button, path, seen)
    if not label and not button.get("emoji") and style != BUTTON_PREMIUM:
        raise invalid_form(
            path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or an emoji is required."
        )


def _validate_select(select: JSON, path: str, seen: set[str]) -> None:
    _check_custom_id(select, path, seen)
    if select.get("type") == STRING_SELECT:
        options = select.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= MAX_SELECT_OPTIONS:
            raise invalid_form(
                f"{path}.options",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MAX_SELECT_OPTIONS} in length.",
            )


def _check_custom_id(component: JSON, path: str, seen: set[str]) -> None:
    custom_id = component.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID_CHARS:
        raise invalid_form(
            f"{path}.custom_id",
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between 1 and {MAX_CUSTOM_ID_CHARS} in length.",
        )
    if custom_id in seen:
        raise invalid_form(
            f"{path}.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id cannot be duplicated",
        )
    seen.add(custom_id)


def walk(components: list[JSON]) -> Iterator[JSON]:
    """Every component of a message, rows and their children, depth first."""
    for component in components:
        yield component
        children = component.get("components")
        if isinstance(children, list):
            yield from walk(children)
        inner = component.get("component")
        if isinstance(inner, dict):
            yield from walk([inner])


def find_component(components: list[JSON], custom_id: str) -> JSON | None:
    """The interactive component (a button or a select) with this ``custom_id``, if any."""
    for component in walk(components):
        kind = component.get("type")
        if component.get("custom_id") == custom_id and (kind == BUTTON or kind in SELECT_TYPES):
            return component
    return None

"""Registered application commands: Discord's cheap validation rules, and typed option building."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from bot.fakes.discord.models import JSON
from bot.fakes.discord.snowflakes import SnowflakeMinter
from bot.fakes.discord.wire import invalid_form

SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3  # application command types
SNOWFLAKE_TYPES = frozenset({USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT})
_NAME = re.compile(r"^[-_'\w]{1,32}$")
MAX_COMMANDS = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_CHARS = 8000
# The locales Discord accepts as keys of name_localizations / description_localizations.
LOCALES = frozenset(
    {
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    }
)

# Turns an option value of a snowflake type into its ID and records it in ``resolved``.
Resolver = Callable[[int, JSON, Any], str]


class DriverError(AssertionError):
    """The test asked the member to do something Discord's client would not let them do."""


def _check_text(path: str, value: Any, *, low: int, high: int, is_name: bool) -> int:
    text = value if isinstance(value, str) else ""
    if not low <= len(text) <= high:
        raise invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high}.")
    if is_name and (not _NAME.match(text) or text != text.lower()):
        raise invalid_form(path, "APPLICATION_COMMAND_INVALID_NAME", f"Invalid name: {text!r}")
    return len(text)


def _check_localized(path: str, value: Any, *, low: int, high: int, is_name: bool) -> int:
    """A ``*_localizations`` map: known locales only, each text held to the field's own rules.
    Counts the longest one, as Discord counts a command's size."""
    if value is None:
        return 0
    if not isinstance(value, dict):
        raise invalid_form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    longest = 0
    for locale, text in value.items():
        if locale not in LOCALES:
            raise invalid_form(f"{path}.{locale}", "LOCALE_INVALID", f"Invalid locale {locale!r}")
        size = _check_text(f"{path}.{locale}", text, low=low, high=high, is_name=is_name)
        longest = max(longest, size)
    return longest


def _check_named(path: str, item: JSON, *, is_name: bool, has_description: bool) -> int:
    """Name and description of a command or option, with their localizations."""
    total = _check_text(f"{path}.name", item.get("name"), low=1, high=32, is_name=is_name)
    total += _check_localized(
        f"{path}.name_localizations",
        item.get("name_localizations"),
        low=1,
        high=32,
        is_name=is_name,
    )
    if has_description:
        total += _check_text(
            f"{path}.description", item.get("description"), low=1, high=100, is_name=False
        )
        total += _check_localized(
            f"{path}.description_localizations",
            item.get("description_localizations"),
            low=1,
            high=100,
            is_name=False,
        )
    return total


def _check_options(path: str, options: list[JSON], *, depth: int) -> int:
    if len(options) > MAX_OPTIONS:
        raise invalid_form(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    total = 0
    seen: set[str] = set()
    seen_optional = False
    for index, option in enumerate(options):
        here = f"{path}.{index}"
        total += _check_named(here, option, is_name=True, has_description=True)
        if option["name"] in seen:
            raise invalid_form(here, "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Dup name")
        seen.add(option["name"])
        kind = option.get("type")
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if depth >= (1 if kind == SUB_COMMAND_GROUP else 2):
                raise invalid_form(here, "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Bad nesting")
            total += _check_options(f"{here}.options", option.get("options") or [], depth=depth + 1)
            continue
        if option.get("required"):
            if seen_optional:
                raise invalid_form(
                    here,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            raise invalid_form(f"{here}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        if choices and option.get("autocomplete"):
            raise invalid_form(here, "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE", "Both set")
        for number, choice in enumerate(choices):
            where = f"{here}.choices.{number}"
            total += _check_text(
                f"{where}.name", choice.get("name"), low=1, high=100, is_name=False
            )
            total += _check_localized(
                f"{where}.name_localizations",
                choice.get("name_localizations"),
                low=1,
                high=100,
                is_name=False,
            )
            total += len(str(choice.get("value", "")))
    return total


def validate_command(index: int, command: JSON) -> None:
    """Discord's cheap checks on one command (raises 400/50035)."""
    kind = command.get("type", 1)
    total = _check_named(str(index), command, is_name=kind == 1, has_description=kind == 1)
    if kind == 1:
        total += _check_options(f"{index}.options", command.get("options") or [], depth=0)
    if total > MAX_COMMAND_CHARS:
        raise invalid_form(str(index), "APPLICATION_COMMAND_TOO_LARGE", "Command too large")


class CommandRegistry:
    """Commands the bot registered with bulk overwrite, global and per guild."""

    def __init__(self, ids: SnowflakeMinter, application_id: int) -> None:
        self._ids = ids
        self._app_id = application_id
        self.global_commands: dict[str, JSON] = {}
        self.guild_commands: dict[int, dict[str, JSON]] = {}

    def overwrite(self, guild_id: int | None, commands: Any) -> list[JSON]:
        """Replace the scope's commands (validated first) and return them with IDs."""
        if not isinstance(commands, list):
            raise invalid_form("_", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(commands) > MAX_COMMANDS:
            raise invalid_form("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        seen: set[tuple[int, str]] = set()
        for index, command in enumerate(commands):
            validate_command(index, command)
            key = (int(command.get("type", 1)), command["name"])
            if key in seen:
                raise invalid_form(str(index), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate")
            seen.add(key)
        old = self.scope(guild_id)
        new: dict[str, JSON] = {}
        for command in commands:
            previous = old.get(command["name"])
            stored = {
                "description": "",  # Discord returns an empty one for user and message commands
                **command,
                "id": previous["id"] if previous else str(self._ids.mint()),
                "application_id": str(self._app_id),
                "version": str(self._ids.mint()),
                "type": int(command.get("type", 1)),
                "default_member_permissions": _perm_string(
                    command.get("default_member_permissions")
                ),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            new[command["name"]] = stored
        if guild_id is None:
            self.global_commands = new
        else:
            self.guild_commands[guild_id] = new
        return list(new.values())

    def scope(self, guild_id: int | None) -> dict[str, JSON]:
        """The commands of one scope (global when ``guild_id`` is None)."""
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.get(guild_id, {})

    def find(self, name: str, guild_id: int, *, kind: int = CHAT_INPUT) -> JSON | None:
        """The command a member of ``guild_id`` would pick (guild first, then global)."""
        for command in (self.scope(guild_id).get(name), self.global_commands.get(name)):
            if command is not None and command.get("type", 1) == kind:
                return command
        return None


def _perm_string(value: Any) -> str | None:
    # discord.py sends an int; Discord stores and returns a string.
    return None if value is None else str(value)


def build_options(
    command: JSON,
    path: Sequence[str],
    values: dict[str, Any],
    resolve: Resolver,
    *,
    focused: str | None = None,
) -> list[JSON]:
    """Interaction ``data.options`` for ``/command path… name=value``, typed by the schema."""
    schema: list[JSON] = command.get("options") or []
    wrappers: list[JSON] = []
    for step in path:
        option = next((o for o in schema if o["name"] == step), None)
        if option is None or option["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            names = [o["name"] for o in schema if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
            raise DriverError(f"/{command['name']} has no subcommand {step!r}; it has {names}")
        wrappers.append({"type": option["type"], "name": step, "options": []})
        schema = option.get("options") or []
    if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in schema):
        names = [o["name"] for o in schema]
        raise DriverError(f"/{command['name']} {' '.join(path)}: pick a subcommand among {names}")
    leaf = [
        _typed_option(command, schema, name, value, resolve, focused)
        for name, value in values.items()
    ]
    missing = [
        o["name"] for o in schema if o.get("required") and o["name"] not in values and not focused
    ]
    if missing:
        raise DriverError(f"/{command['name']} needs required options {missing}")
    for wrapper in reversed(wrappers):
        wrapper["options"] = leaf
        leaf = [wrapper]
    return leaf


def _typed_option(
    command: JSON,
    schema: list[JSON],
    name: str,
    value: Any,
    resolve: Resolver,
    focused: str | None,
) -> JSON:
    option = next((o for o in schema if o["name"] == name), None)
    if option is None:
        raise DriverError(
            f"/{command['name']} has no option {name!r}; it has {[o['name'] for o in schema]}"
        )
    kind = option["type"]
    where = f"/{command['name']} {name}"
    entry: JSON = {"name": name, "type": kind}
    if focused == name:
        # Autocomplete sends whatever the member has typed so far, as a string.
        entry.update(value=str(value), focused=True)
        return entry
    if kind in SNOWFLAKE_TYPES:
        entry["value"] = resolve(kind, option, value)
        return entry
    entry["value"] = _check_scalar(where, kind, option, value)
    return entry


def _check_scalar(where: str, kind: int, option: JSON, value: Any) -> Any:
    expected: dict[int, tuple[type, ...]] = {
        STRING: (str,),
        INTEGER: (int,),
        BOOLEAN: (bool,),
        NUMBER: (int, float),
    }
    types = expected.get(kind)
    if types is None:
        raise DriverError(f"{where}: option type {kind} is not supported by the driver")
    if not isinstance(value, types) or (kind != BOOLEAN and isinstance(value, bool)):
        raise DriverError(f"{where} expects {types[0].__name__}, got {value!r}")
    choices = option.get("choices") or []
    if choices and value not in [c["value"] for c in choices]:
        raise DriverError(f"{where}: {value!r} is not one of {[c['value'] for c in choices]}")
    if isinstance(value, str):
        low, high = option.get("min_length") or 0, option.get("max_length") or 6000
        if not low <= len(value) <= high:
            raise DriverError(f"{where}: length {len(value)} outside {low}..{high}")
    if kind in (INTEGER, NUMBER):
        low, high = option.get("min_value"), option.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise DriverError(f"{where}: {value} outside {low}..{high}")
    return value

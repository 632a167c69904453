"""Mistakes in a configuration, said in one line each: the key, what is wrong, what is allowed,
never the value of a secret (or of anything that looks like one); and `describe_settings`, the
effective settings `check` prints, masked.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from bot.domain.credentials import looks_like_credential, mask_passwords
from bot.settings import FROM_FILE, SECRET_KEYS, Settings

_REPEATS = ("Cannot overwrite a value", "Cannot declare", "Cannot mutate")
_HEADER = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")


def toml_mistake(text: str, error: tomllib.TOMLDecodeError) -> str:
    """The parser's complaint; for a key or table given twice, which one and where."""
    message = str(error)
    if not message.startswith(_REPEATS):
        return f"not valid TOML: {message}"
    # The parser often says only "at end of document": parse ever longer beginnings of the
    # file to find the line where the repeat happens (a config file is a few dozen lines).
    lines = text.splitlines(keepends=True)
    for count in range(1, len(lines) + 1):
        try:
            tomllib.loads("".join(lines[:count]))
        except tomllib.TOMLDecodeError as partial:
            if str(partial).startswith(_REPEATS):
                key = _key_on_line(lines, count - 1)
                if looks_like_credential(key):
                    key = "a key that looks like a token or key (not shown)"
                return f"{key} is set twice (the second time on line {count}): keep one."
    return f"not valid TOML: {message}"


def _key_on_line(lines: list[str], index: int) -> str:
    """The full dotted name of the key or table a line sets (its table's name included)."""
    line = lines[index]
    header = _HEADER.match(line)
    if header is not None:
        return f"[{_dotted(header.group(1))}]"
    table = next(
        (
            _dotted(match.group(1))
            for match in map(_HEADER.match, reversed(lines[:index]))
            if match is not None
        ),
        "",
    )
    key = _dotted(line.split("=", 1)[0])
    return f"{table}.{key}" if table else key


def _dotted(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_known_keys(annotation, f"{prefix}{name}."))
    return keys


def secret_values(data: Mapping[str, Any]) -> list[str]:
    """The secrets as written (file or environment), to keep them out of any other key's echo."""
    values = []
    for key in SECRET_KEYS:
        section, name = key.split(".")
        table = data.get(section)
        value = table.get(name) if isinstance(table, Mapping) else None
        if isinstance(value, str):
            values.append(value)
    return values


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return "text" if isinstance(value, str) else type(value).__name__


def _subject(key: str, value: object, secrets: list[str], origin: str | None = None) -> str:
    """`key = value` for a message, or the key alone when the value is (or looks) secret."""
    if key in SECRET_KEYS:
        source = f"from {origin}" if _is_from_env(origin) else _type_name(value)
        return f"{key} ({source}; a secret, so not shown)"
    if looks_like_credential(mask_passwords(value) if isinstance(value, str) else value, secrets):
        return (
            f"{key} (its value looks like a token or key, so not shown: secrets belong in "
            f"{' or '.join(sorted(SECRET_KEYS))})"
        )
    return f"{key} = {mask_passwords(repr(value))}"


def describe_all(
    exc: ValidationError,
    path: Path,
    secrets: list[str],
    origins: Mapping[str, str],
    data: Mapping[str, Any],
) -> list[str]:
    """One line per wrong key (a union's branches give a key several errors: the first says it)."""
    lines: list[str] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        key = _error_key(error)
        if key in seen:
            continue
        seen.add(key)
        origin = origins.get(key)
        text = _describe(error, key, secrets, origin, data)
        # A secret from the environment is not in the file: don't send the operator there.
        lines.append(text if _is_from_env(origin) else f"{path}: {text}")
    return lines


def _is_from_env(origin: str | None) -> bool:
    return origin is not None and origin != FROM_FILE


def _error_key(error: ErrorDetails) -> str:
    """The dotted config key an error is about."""
    known = set(_known_keys(Settings))
    key = ""
    for part in error["loc"]:
        candidate = f"{key}.{part}" if key else str(part)
        # Union branches add loc parts such as "constrained-int": stop at the last real key.
        if candidate not in known and error["type"] != "extra_forbidden":
            break
        key = candidate
    return key


def _unknown(key: str, data: Mapping[str, Any]) -> str:
    """An unknown key or section, with the closest known one and, for a section, every one."""
    if "." not in key:
        names = [name for name in Settings.model_fields]
        listed = ", ".join(f"[{name}]" for name in names[:-1]) + f" and [{names[-1]}]"
        if not isinstance(data.get(key), Mapping):
            return f"{key} is not a known key: settings go in a section: {listed}."
        close = difflib.get_close_matches(key, names, n=1)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        return f"[{key}] is not a known section{hint}: the sections are {listed}."
    close_keys = difflib.get_close_matches(key, _known_keys(Settings), n=1)
    hint = f" (did you mean {close_keys[0]}?)" if close_keys else ""
    return f"{key} is not a known key{hint}."


def _describe(
    error: ErrorDetails,
    key: str,
    secrets: list[str],
    origin: str | None,
    data: Mapping[str, Any],
) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        if looks_like_credential(key, secrets):
            return "a key that looks like a token or key is not a known key (not shown)."
        return _unknown(key, data)
    subject = _subject(key, error.get("input"), secrets, origin)
    is_whole_value = len(key.split(".")) == len(error["loc"])
    if kind in ("string_type", "path_type") and is_whole_value:
        return f'{subject} must be text in quotes, like {key.split(".")[-1]} = "…".'
    if key in ("quotas.default_limit", "quotas.server_limit"):
        return f'{subject} is not allowed: use a whole number, 0 or more, or "unlimited".'
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", '"')
        return f"{subject} is not allowed: use {allowed}."
    if kind in ("greater_than_equal", "less_than_equal", "greater_than"):
        field = _field_bounds(key)
        return f"{subject} is out of range: use {field}."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{subject} must be a whole number."
    if kind in ("bool_parsing", "bool_type"):
        return f"{subject} must be true or false."
    if kind in ("model_type", "dict_type"):
        return f"{key} must be a [{key}] table."
    if kind in ("tuple_type", "list_type"):
        return f"{subject} must be a list, like [] or [1, 2]."
    if kind == "value_error":
        return f"{subject} {str(error['msg']).removeprefix('Value error, ')}."
    return f"{subject}: {error['msg']}."


def _field_bounds(key: str) -> str:
    """Human text for a numeric field's bounds, read from the model's own metadata."""
    model: type[BaseModel] = Settings
    *sections, name = key.split(".")
    for section in sections:
        annotation = model.model_fields[section].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return "another value"
        model = annotation
    field = model.model_fields.get(name)
    low = next((m.ge for m in (field.metadata if field else []) if hasattr(m, "ge")), None)
    high = next((m.le for m in (field.metadata if field else []) if hasattr(m, "le")), None)
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"{low} or more"
    return f"{high} or less" if high is not None else "another value"


def describe_settings(
    settings: Settings, secret_origins: Mapping[str, str] | None = None
) -> list[str]:
    """`key = value` lines of the effective settings, secrets and URL passwords masked; each
    secret says where it came from when `secret_origins` tells."""
    origins = secret_origins or {}
    lines = []
    secrets = [settings.discord.token.get_secret_value(), settings.omni.api_key.get_secret_value()]

    def walk(model: BaseModel, prefix: str) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}{name}"
            if isinstance(value, BaseModel):
                walk(value, key + ".")
            elif isinstance(value, SecretStr):
                secret = value.get_secret_value()
                origin = f", from {origins[key]}" if key in origins else ""
                lines.append(
                    f"{key} = "
                    + (f"(set, {len(secret)} characters{origin})" if secret else "(not set)")
                )
            else:
                # Masked first: a database URL's password is its own, not a misplaced secret.
                shown = mask_passwords(str(value) if isinstance(value, Path) else repr(value))
                if looks_like_credential(shown, secrets):
                    shown = "(looks like a token or key: not shown)"
                lines.append(f"{key} = {shown}")

    walk(settings, "")
    return lines

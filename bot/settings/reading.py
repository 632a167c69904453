"""Reading the configuration: `config.toml` merged with the environment, every mistake found in
one pass (`ConfigReport`), described without echoing a secret; `describe_settings` for `check`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.domain.errors import ConfigError
from bot.domain.request import (
    InputMode,
    allowed_durations,
    describe_durations,
)
from bot.settings import (
    API_KEY_KEY,
    COMETAPI_KEY_ENV,
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DISCORD_TOKEN_ENV,
    FROM_FILE,
    TOKEN_KEY,
    DiscordSettings,
    OmniSettings,
    Settings,
)
from bot.settings.mistakes import describe_all, secret_values, toml_mistake


def config_path(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether the operator named it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]), True
    return DEFAULT_CONFIG_PATH, False


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """What reading the configuration found, every mistake at once.

    `settings` is None when there is any mistake; `sections` holds each section that is right
    on its own (so `check` can still test the storage paths), `secret_origins` where each secret
    came from: the environment variable's name, or "the file".
    """

    path: Path
    is_file: bool
    settings: Settings | None
    problems: tuple[str, ...]
    sections: Mapping[str, BaseModel]
    secret_origins: Mapping[str, str]


def load_settings(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[Settings, Path]:
    """Read the config file (if any) and the environment; raise `ConfigError` with every fault."""
    report = read_config(explicit, env)
    if report.settings is None:
        raise ConfigError("\n".join(report.problems), problems=report.problems)
    return report.settings, report.path


def read_config(explicit: str | Path | None, env: Mapping[str, str]) -> ConfigReport:
    """Read the config file (if any) and the environment, and find every mistake in them.

    Raises `ConfigError` only when there is nothing to check: a named file that is missing or
    that is not TOML.
    """
    path, is_required = config_path(explicit, env)
    data = _read_toml(path, is_required)
    origins: dict[str, str] = {}
    for key, variable in ((TOKEN_KEY, DISCORD_TOKEN_ENV), (API_KEY_KEY, COMETAPI_KEY_ENV)):
        section, name = key.split(".")
        table = data.get(section)
        in_file = isinstance(table, dict) and name in table
        if env.get(variable):
            if isinstance(table, dict) or table is None:
                data.setdefault(section, {})[name] = env[variable]
            origins[key] = variable + (", which overrides the file's value" if in_file else "")
        elif in_file:
            origins[key] = FROM_FILE
    secrets = secret_values(data)
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(describe_all(exc, path, secrets, origins, data))
    sections = _valid_sections(data)
    omni = sections.get("omni")
    if isinstance(omni, OmniSettings):
        cross = _cross_rule_problem(omni)
        if cross is not None:
            problems.append(f"{path}: {cross}")
    callback = _callback_problem(data)
    if callback is not None:
        problems.append(f"{path}: {callback}")
    return ConfigReport(
        path=path,
        is_file=path.is_file(),
        settings=None if problems else settings,
        problems=tuple(problems),
        sections=sections,
        secret_origins=origins,
    )


def _read_toml(path: Path, is_required: bool) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"{path} is a directory: name the config file itself.")
    if not path.is_file():
        if is_required:
            raise ConfigError(
                f"{path}: no such file. Copy config.example.toml to {path} and edit it."
            )
        return {}
    try:
        # utf-8-sig: a file saved "with BOM" (Notepad does) is read like any other.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: can't be read: {exc.__class__.__name__}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {toml_mistake(text, exc)}") from None


def _valid_sections(data: Mapping[str, Any]) -> dict[str, BaseModel]:
    """Each section that is right on its own, validated."""
    sections: dict[str, BaseModel] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        try:
            sections[name] = model.model_validate(data.get(name, {}))
        except ValidationError:
            continue
    return sections


def _callback_problem(data: Mapping[str, Any]) -> str | None:
    """A callback URL with no HTTP server to receive the callbacks."""
    omni, http = data.get("omni"), data.get("http")
    callback_url = omni.get("callback_url") if isinstance(omni, dict) else None
    listen = http.get("listen") if isinstance(http, dict) else None
    if not callback_url or listen:
        return None
    return (
        "omni.callback_url is set but [http] listen is empty, so nothing would receive the "
        'callbacks. Set [http] listen (e.g. "0.0.0.0:8080") and point the callback URL at it '
        "through your reverse proxy (the public URL that reaches <listen>/omni/callback), or "
        "leave omni.callback_url empty to rely on polling."
    )


def _cross_rule_problem(omni: OmniSettings) -> str | None:
    allowed = allowed_durations(omni.model, InputMode.TEXT, has_video=False)
    if omni.duration in allowed:
        return None
    return (
        f"omni.duration = {omni.duration} is not allowed for text-to-video on "
        f"{omni.model}: use {describe_durations(allowed)}."
    )


def problems_for_running(settings: Settings) -> list[str]:
    """What must still be set before `kling-bot run` can work (secrets, mostly)."""
    return missing_secrets(settings.discord, settings.omni)


def missing_secrets(discord: DiscordSettings | None, omni: OmniSettings | None) -> list[str]:
    """The secrets that are not set, for the sections that are otherwise right."""
    problems = []
    if discord is not None and not discord.token.get_secret_value():
        problems.append(f"discord.token is empty: set {DISCORD_TOKEN_ENV} or discord.token.")
    if omni is not None and not omni.api_key.get_secret_value():
        problems.append(f"omni.api_key is empty: set {COMETAPI_KEY_ENV} or omni.api_key.")
    return problems

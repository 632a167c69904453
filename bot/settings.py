"""Settings: `config.toml` merged with the environment, validated once into frozen models.

The file is found from `--config PATH`, else `KLING_BOT_CONFIG`, else `config.toml`. Secrets
(`DISCORD_TOKEN`, `COMETAPI_KEY`) may come from the environment, which wins over the file. A wrong
value raises `ConfigError` with one line naming the key and what is allowed. Nothing is read at
import time.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.credentials import looks_like_credential, mask_passwords
from bot.errors import ConfigError
from bot.models import (
    AspectRatio,
    InputMode,
    Mode,
    ModelName,
    allowed_durations,
    describe_durations,
)

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_ENV = "KLING_BOT_CONFIG"
DISCORD_TOKEN_ENV = "DISCORD_TOKEN"
COMETAPI_KEY_ENV = "COMETAPI_KEY"

# Keys whose value is never shown, whatever its type: `check` says what is wrong without it.
SECRET_KEYS = frozenset({"discord.token", "omni.api_key"})

Window = Literal["day", "week", "month"]
_STRICT = ConfigDict(frozen=True, extra="forbid")


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(tuple(f"{s}://" for s in schemes)) or value.endswith("://"):
        raise ValueError("must start with " + " or ".join(f"{s}://" for s in schemes))
    return value


class DiscordSettings(BaseModel):
    """How the bot reaches Discord."""

    model_config = _STRICT
    token: SecretStr = SecretStr("")
    guild_ids: tuple[Annotated[int, Field(gt=0)], ...] = ()
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _check_url(value, ("https", "http"))

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str) -> str:
        return _check_url(value, ("wss", "ws")) + "/"


class OmniSettings(BaseModel):
    """How the bot reaches CometAPI, and the defaults of a `/video` request."""

    model_config = _STRICT
    api_key: SecretStr = SecretStr("")
    base_url: str = "https://api.cometapi.com"
    model: ModelName = "kling-video-o1"
    mode: Mode = "std"
    aspect_ratio: AspectRatio = "16:9"
    duration: Annotated[int, Field(ge=3, le=15)] = 5
    max_concurrent_tasks: Annotated[int, Field(ge=1, le=100)] = 5
    task_timeout_minutes: Annotated[int, Field(ge=1, le=1440)] = 30

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_url(value, ("https", "http"))


class StorageSettings(BaseModel):
    """Where the database and the kept media files live (relative paths: from the working dir)."""

    model_config = _STRICT
    database: Path = Path("data/kling-bot.sqlite3")
    media_dir: Path = Path("data/media")
    max_result_mb: Annotated[int, Field(ge=1, le=4096)] = 500
    max_video_mb: Annotated[int, Field(ge=1, le=200)] = 200


class CostSettings(BaseModel):
    """Credits a video costs: (base + per_second × seconds) × pro_multiplier, rounded up."""

    model_config = _STRICT
    base: Annotated[float, Field(ge=0)] = 1
    per_second: Annotated[float, Field(ge=0)] = 0
    pro_multiplier: Annotated[float, Field(ge=0)] = 1

    def credits_for(self, mode: Mode, seconds: int) -> int:
        """The whole number of credits one video with these settings costs."""
        raw = self.base + self.per_second * seconds
        if mode == "pro":
            raw *= self.pro_multiplier
        return max(0, math.ceil(raw - 1e-9))


class QuotaSettings(BaseModel):
    """The default limits every server starts from; moderators change them with `/quota`."""

    model_config = _STRICT
    window: Window = "day"
    default_limit: Annotated[int, Field(ge=0)] | Literal["unlimited"] = 5
    max_in_flight_per_member: Annotated[int, Field(ge=1, le=100)] = 2
    max_in_flight_per_server: Annotated[int, Field(ge=1, le=1000)] = 10
    moderator_roles: tuple[str | int, ...] = ()
    # Credits per window for the whole server, charged with each member's own quota.
    server_limit: Annotated[int, Field(ge=0)] | Literal["unlimited"] = "unlimited"
    # A task cancelled while Kling renders it is still billed to the server: refund it anyway?
    refund_cancelled_running: bool = False
    cost: CostSettings = CostSettings()

    @field_validator("moderator_roles")
    @classmethod
    def _roles(cls, value: tuple[str | int, ...]) -> tuple[str | int, ...]:
        for role in value:
            if isinstance(role, str) and not role.strip():
                raise ValueError("role names can't be empty")
        return value


class RerunSettings(BaseModel):
    """Who may rerun a result with 🔁."""

    model_config = _STRICT
    allow: Literal["requester", "anyone"] = "requester"


class Settings(BaseModel):
    """Everything the bot is configured with; built by `load_settings`."""

    model_config = _STRICT
    discord: DiscordSettings = DiscordSettings()
    omni: OmniSettings = OmniSettings()
    storage: StorageSettings = StorageSettings()
    quotas: QuotaSettings = QuotaSettings()
    reruns: RerunSettings = RerunSettings()


def config_path(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether the operator named it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(explicit: str | Path | None, env: Mapping[str, str]) -> tuple[Settings, Path]:
    """Read the config file (if any) and the environment; raise `ConfigError` on the first fault."""
    path, is_required = config_path(explicit, env)
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: can't be read: {exc.__class__.__name__}") from None
    elif is_required:
        raise ConfigError(f"{path}: no such file. Copy config.example.toml to {path} and edit it.")
    for section, key, variable in (
        ("discord", "token", DISCORD_TOKEN_ENV),
        ("omni", "api_key", COMETAPI_KEY_ENV),
    ):
        if env.get(variable):
            section_data = data.setdefault(section, {})
            if isinstance(section_data, dict):
                section_data[key] = env[variable]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, _secret_values(data))}") from None
    _check_cross_rules(settings, path)
    return settings, path


def _check_cross_rules(settings: Settings, path: Path) -> None:
    omni = settings.omni
    allowed = allowed_durations(omni.model, InputMode.TEXT, has_video=False)
    if omni.duration not in allowed:
        raise ConfigError(
            f"{path}: omni.duration = {omni.duration} is not allowed for text-to-video on "
            f"{omni.model}: use {describe_durations(allowed)}."
        )


def problems_for_running(settings: Settings) -> list[str]:
    """What must still be set before `kling-bot run` can work (secrets, mostly)."""
    problems = []
    if not settings.discord.token.get_secret_value():
        problems.append(f"discord.token is empty: set {DISCORD_TOKEN_ENV} or discord.token.")
    if not settings.omni.api_key.get_secret_value():
        problems.append(f"omni.api_key is empty: set {COMETAPI_KEY_ENV} or omni.api_key.")
    return problems


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_known_keys(annotation, f"{prefix}{name}."))
    return keys


def _secret_values(data: Mapping[str, Any]) -> list[str]:
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


def _subject(key: str, value: object, secrets: list[str]) -> str:
    """`key = value` for a message, or the key alone when the value is (or looks) secret."""
    if key in SECRET_KEYS:
        return f"{key} ({_type_name(value)}; a secret, so not shown)"
    if looks_like_credential(value, secrets):
        return (
            f"{key} (its value looks like a token or key, so not shown: secrets belong in "
            f"{' or '.join(sorted(SECRET_KEYS))})"
        )
    return f"{key} = {mask_passwords(repr(value))}"


def _describe(exc: ValidationError, secrets: list[str]) -> str:
    error = exc.errors(include_url=False)[0]
    known = set(_known_keys(Settings))
    key = ""
    for part in error["loc"]:
        candidate = f"{key}.{part}" if key else str(part)
        # Union branches add loc parts such as "constrained-int": stop at the last real key.
        if candidate not in known and error["type"] != "extra_forbidden":
            break
        key = candidate
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        if looks_like_credential(key, secrets):
            return "a key that looks like a token or key is not a known key (not shown)."
        close = difflib.get_close_matches(key, _known_keys(Settings), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{key} is not a known key{hint}."
    subject = _subject(key, error.get("input"), secrets)
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


def describe_settings(settings: Settings) -> list[str]:
    """`key = value` lines of the effective settings, secrets and URL passwords masked."""
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
                lines.append(
                    f"{key} = " + (f"(set, {len(secret)} characters)" if secret else "(not set)")
                )
            elif looks_like_credential(str(value) if isinstance(value, Path) else value, secrets):
                lines.append(f"{key} = (looks like a token or key: not shown)")
            else:
                shown = str(value) if isinstance(value, Path) else repr(value)
                lines.append(f"{key} = {mask_passwords(shown)}")

    walk(settings, "")
    return lines

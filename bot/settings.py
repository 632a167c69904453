"""Settings: `config.toml` merged with the environment, validated once into frozen models.

The file is found from `--config PATH`, else `KLING_BOT_CONFIG`, else `config.toml`. Secrets
(`DISCORD_TOKEN`, `COMETAPI_KEY`) may come from the environment, which wins over the file. Every
mistake is found in one read (`read_config`), one line each naming the key and what is allowed;
`load_settings` raises them as one `ConfigError`. Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails

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
_TOKEN_KEY = "discord.token"
_API_KEY_KEY = "omni.api_key"
SECRET_KEYS = frozenset({_TOKEN_KEY, _API_KEY_KEY})
_FROM_FILE = "the file"

Window = Literal["day", "week", "month"]
_STRICT = ConfigDict(frozen=True, extra="forbid")


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(tuple(f"{s}://" for s in schemes)) or value.endswith("://"):
        raise ValueError("must start with " + " or ".join(f"{s}://" for s in schemes))
    return value


# The API's own path, pasted into the base URL: https://api.cometapi.com/v1 (the bot adds it).
_API_PATH = re.compile(r"(?:/kling)?/v1(?:/.*)?$")


def _check_secret_shape(value: SecretStr, what: str, prefixes: tuple[str, ...]) -> SecretStr:
    """Refuse the usual paste mistakes around a token or key; the message never shows it."""
    text = value.get_secret_value()
    if not text:
        return value  # an empty secret is reported by `problems_for_running`
    if text != text.strip():
        raise ValueError(f"has spaces or a line break around it: paste the {what} alone")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        raise ValueError(
            "is wrapped in quotes: remove them (docker's --env-file keeps quotes as part of "
            "the value)"
        )
    for prefix in prefixes:
        if text.lower().startswith(prefix.lower()):
            raise ValueError(
                f'starts with "{prefix}": paste the {what} alone, without "{prefix}" '
                "(the bot adds it)"
            )
    if any(character.isspace() for character in text):
        raise ValueError(f"contains a space, which a {what} never does: paste it again")
    return value


class DiscordSettings(BaseModel):
    """How the bot reaches Discord."""

    model_config = _STRICT
    token: SecretStr = SecretStr("")
    guild_ids: tuple[Annotated[int, Field(gt=0)], ...] = ()
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        return _check_secret_shape(value, "token", ("Bot ", "Bearer "))

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
    callback_url: str = ""  # the public URL reaching [http] listen's /omni/callback

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        return _check_secret_shape(value, "key", ("Bearer ",))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = _check_url(value, ("https", "http"))
        parts = urlsplit(value)
        pasted = _API_PATH.search(parts.path)
        if pasted is not None:
            right = f"{parts.scheme}://{parts.netloc}{parts.path[: pasted.start()]}"
            raise ValueError(
                f'ends in {parts.path[pasted.start() :]}: use "{right}" (the bot adds '
                "/kling/v1/… itself)"
            )
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str) -> str:
        return _check_url(value, ("https", "http")) if value.strip() else ""


class StorageSettings(BaseModel):
    """Where the database and the kept media files live (relative paths: from the working dir)."""

    model_config = _STRICT
    database: Path = Path("data/kling-bot.sqlite3")
    media_dir: Path = Path("data/media")
    max_result_mb: Annotated[int, Field(ge=1, le=4096)] = 500
    max_video_mb: Annotated[int, Field(ge=1, le=200)] = 200
    keep_media_days: Annotated[int, Field(ge=0, le=3650)] = 30  # 0 = keep forever


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
    """Who may rerun (vary, extend, make a GIF of) a result, and how long a chain may grow."""

    model_config = _STRICT
    allow: Literal["requester", "anyone"] = "requester"
    # ▶ Extend: at most this many extensions after the first video (Midjourney's four).
    max_extensions: Annotated[int, Field(ge=0, le=10)] = 4


class HttpSettings(BaseModel):
    """The bot's own small HTTP server: `/healthz`, `/metrics` and the Omni callback route."""

    model_config = _STRICT
    listen: str = ""  # "host:port"; empty = no HTTP server

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        if value:
            split_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None when the server is off."""
        return split_listen(self.listen) if self.listen else None


def split_listen(value: str) -> tuple[str, int]:
    """`"0.0.0.0:8080"`, `"[::1]:8080"` or `"localhost:0"` → (host, port); ValueError otherwise."""
    host, separator, port_text = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError('must be "host:port", like "0.0.0.0:8080" or "127.0.0.1:8080"')
    return host, int(port_text)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LoggingSettings(BaseModel):
    """How the bot logs: text for a terminal, JSON (one object a line) for a log collector."""

    model_config = _STRICT
    format: Literal["text", "json"] = "text"
    level: LogLevel = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class Settings(BaseModel):
    """Everything the bot is configured with; built by `load_settings`."""

    model_config = _STRICT
    discord: DiscordSettings = DiscordSettings()
    omni: OmniSettings = OmniSettings()
    storage: StorageSettings = StorageSettings()
    quotas: QuotaSettings = QuotaSettings()
    reruns: RerunSettings = RerunSettings()
    logging: LoggingSettings = LoggingSettings()
    http: HttpSettings = HttpSettings()


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
    for key, variable in ((_TOKEN_KEY, DISCORD_TOKEN_ENV), (_API_KEY_KEY, COMETAPI_KEY_ENV)):
        section, name = key.split(".")
        table = data.get(section)
        in_file = isinstance(table, dict) and name in table
        if env.get(variable):
            if isinstance(table, dict) or table is None:
                data.setdefault(section, {})[name] = env[variable]
            origins[key] = variable + (", which overrides the file's value" if in_file else "")
        elif in_file:
            origins[key] = _FROM_FILE
    secrets = _secret_values(data)
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe_all(exc, path, secrets, origins, data))
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
        raise ConfigError(f"{path}: {_toml_mistake(text, exc)}") from None


_REPEATS = ("Cannot overwrite a value", "Cannot declare", "Cannot mutate")
_HEADER = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")


def _toml_mistake(text: str, error: tomllib.TOMLDecodeError) -> str:
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


def _subject(key: str, value: object, secrets: list[str], origin: str | None = None) -> str:
    """`key = value` for a message, or the key alone when the value is (or looks) secret."""
    if key in SECRET_KEYS:
        source = f"from {origin}" if _is_from_env(origin) else _type_name(value)
        return f"{key} ({source}; a secret, so not shown)"
    if looks_like_credential(value, secrets):
        return (
            f"{key} (its value looks like a token or key, so not shown: secrets belong in "
            f"{' or '.join(sorted(SECRET_KEYS))})"
        )
    return f"{key} = {mask_passwords(repr(value))}"


def _describe_all(
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
    return origin is not None and origin != _FROM_FILE


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
            elif looks_like_credential(str(value) if isinstance(value, Path) else value, secrets):
                lines.append(f"{key} = (looks like a token or key: not shown)")
            else:
                shown = str(value) if isinstance(value, Path) else repr(value)
                lines.append(f"{key} = {mask_passwords(shown)}")

    walk(settings, "")
    return lines

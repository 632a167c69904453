"""Settings: `config.toml` merged with the environment, validated once into frozen models.

The file is found from `--config PATH`, else `KLING_BOT_CONFIG`, else `config.toml`. Secrets
(`DISCORD_TOKEN`, `COMETAPI_KEY`) may come from the environment, which wins over the file. Every
mistake is found in one read (`reading.read_config`), one line each naming the key and what is
allowed (`mistakes.py`); `load_settings` raises them as one `ConfigError`. Nothing is read at
import time. This module holds the models themselves.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from bot.domain.request import AspectRatio, Mode, ModelName
from bot.settings.database import check_database

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_ENV = "KLING_BOT_CONFIG"
DISCORD_TOKEN_ENV = "DISCORD_TOKEN"
COMETAPI_KEY_ENV = "COMETAPI_KEY"

# Keys whose value is never shown, whatever its type: `check` says what is wrong without it.
TOKEN_KEY = "discord.token"
API_KEY_KEY = "omni.api_key"
SECRET_KEYS = frozenset({TOKEN_KEY, API_KEY_KEY})
FROM_FILE = "the file"

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
    # 0: one process runs every shard, as many as Discord recommends (GET /gateway/bot).
    shard_count: Annotated[int, Field(strict=True)] = 0
    shard_ids: tuple[Annotated[int, Field(strict=True)], ...] = ()  # empty: every shard

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

    @field_validator("shard_count")
    @classmethod
    def _shard_count(cls, value: int) -> int:
        if value < 0:
            raise ValueError(
                "is negative: use 0 (one process, as many shards as Discord recommends) or the "
                "total number of shards across all processes, 1 or more"
            )
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        return check_shard_ids(value, info.data.get("shard_count"))


def check_shard_ids(shard_ids: tuple[int, ...], shard_count: int | None) -> tuple[int, ...]:
    """The shards this process runs, each named once and within `shard_count` (None: the count
    is wrong itself, and said so on its own line)."""
    if not shard_ids or shard_count is None or shard_count < 0:
        return shard_ids
    if shard_count == 0:
        raise ValueError(
            "needs discord.shard_count, the total number of shards across all processes (e.g. "
            "shard_count = 2 with shard_ids = [0] here and [1] in the other process); or leave "
            "shard_ids empty to run every shard in this process"
        )
    outside = sorted({i for i in shard_ids if not 0 <= i < shard_count})
    if outside:
        raise ValueError(
            f"has {_listed(outside)}, outside the shards there are: with shard_count = "
            f"{shard_count} they are numbered 0 to {shard_count - 1}"
        )
    repeated = sorted({i for i in shard_ids if shard_ids.count(i) > 1})
    if repeated:
        raise ValueError(f"has {_listed(repeated)} more than once: list each shard once")
    return shard_ids


def _listed(numbers: list[int]) -> str:
    return (
        ", ".join(map(str, numbers[:-1])) + (" and " if len(numbers) > 1 else "") + str(numbers[-1])
    )


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
    """Where the database and the kept media files live (relative paths: from the working dir).

    `database` is a Path (an SQLite file) or a PostgreSQL URL (text): see `settings/database.py`.
    """

    model_config = _STRICT
    database: Path | str = Path("data/kling-bot.sqlite3")
    media_dir: Path = Path("data/media")
    max_result_mb: Annotated[int, Field(ge=1, le=4096)] = 500
    max_video_mb: Annotated[int, Field(ge=1, le=200)] = 200
    keep_media_days: Annotated[int, Field(ge=0, le=3650)] = 30  # 0 = keep forever
    # With PostgreSQL and several processes: a process's claim on its tasks lasts this long
    # unless renewed; another process takes the tasks of one that died within about this long.
    lease_seconds: Annotated[int, Field(ge=3, le=300)] = 6

    @field_validator("database", mode="plain")
    @classmethod
    def _database(cls, value: object) -> Path | str:
        return check_database(value)

    @property
    def is_postgresql(self) -> bool:
        """Whether the database is a PostgreSQL server (shared by processes), not a file."""
        return isinstance(self.database, str)


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

"""Reading request bodies (JSON or streamed multipart) and validating message payloads."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from bot.fakes.discord.components import validate_components
from bot.fakes.discord.models import JSON
from bot.fakes.discord.wire import DiscordError, invalid_form

_CHUNK_BYTES = 64 * 1024
MAX_CONTENT_CHARS = 2000
MAX_NONCE_CHARS = 25
MAX_EMBEDS = 10
MAX_EMBED_TOTAL_CHARS = 6000
# (path in the embed, limit) as documented under "Embed Limits".
_EMBED_LIMITS: tuple[tuple[str, int], ...] = (
    ("title", 256),
    ("description", 4096),
    ("footer.text", 2048),
    ("author.name", 256),
)


@dataclass(frozen=True)
class IncomingFile:
    """One ``files[n]`` part, counted while streaming; only its first bytes are kept."""

    index: int
    filename: str
    size_bytes: int
    sha256: str
    head: bytes
    content_type: str


@dataclass
class Body:
    """A parsed request: the JSON payload and any uploaded files."""

    payload: JSON = field(default_factory=dict)
    files: list[IncomingFile] = field(default_factory=list)


def guess_content_type(filename: str) -> str:
    """discord.py sends every file as octet-stream, so infer the type from the name."""
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


async def read_body(request: web.Request, *, per_file_limit: int, keep_bytes: int) -> Body:
    """Parse JSON or multipart; 413/40005 if any single file is over ``per_file_limit``."""
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request, per_file_limit=per_file_limit, keep_bytes=keep_bytes)
    raw = await request.read()
    if not raw:
        return Body()
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc
    if not isinstance(payload, dict):
        raise invalid_form("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return Body(payload=payload)


async def _read_multipart(request: web.Request, *, per_file_limit: int, keep_bytes: int) -> Body:
    body = Body()
    too_large = False
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if name == "payload_json":
            body.payload = json.loads(await part.text())
        elif name.startswith("files[") and name.endswith("]"):
            incoming = await _count_file(part, int(name[6:-1]), keep_bytes)
            # Keep reading the rest even when one file is too big: answering before the
            # client has sent its body would surface as a connection error, not a 413.
            too_large = too_large or incoming.size_bytes > per_file_limit
            body.files.append(incoming)
        else:
            await part.release()
    if too_large:
        raise DiscordError(413, 40005)
    return body


async def _count_file(part: BodyPartReader, index: int, keep_bytes: int) -> IncomingFile:
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
        if len(head) < keep_bytes:
            head.extend(chunk[: keep_bytes - len(head)])
    filename = part.filename or f"file{index}"
    return IncomingFile(
        index=index,
        filename=filename,
        size_bytes=size,
        sha256=digest.hexdigest(),
        head=bytes(head),
        content_type=guess_content_type(filename),
    )


def validate_message(payload: JSON, *, file_count: int, require_content: bool) -> None:
    """Discord's cheap checks on a message body (400/50006, 400/50035)."""
    content = payload.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT_CHARS:
        raise invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for index, embed in enumerate(embeds):
        total += _validate_embed(index, embed)
    if total > MAX_EMBED_TOTAL_CHARS:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size")
    _validate_allowed_mentions(payload.get("allowed_mentions"))
    validate_components(payload.get("components"), flags=int(payload.get("flags") or 0))
    has_something = bool(content) or bool(embeds) or file_count > 0
    has_something = has_something or bool(payload.get("components")) or "poll" in payload
    if require_content and not has_something:
        raise DiscordError(400, 50006)


def message_nonce(payload: JSON) -> str | int | None:
    """The ``nonce`` of a Create Message body: an integer or a string of up to 25 characters."""
    nonce = payload.get("nonce")
    if nonce is None:
        return None
    if isinstance(nonce, bool) or not isinstance(nonce, str | int):
        raise invalid_form("nonce", "BASE_TYPE_BAD_TYPE", "Must be an integer or a string.")
    if isinstance(nonce, str) and len(nonce) > MAX_NONCE_CHARS:
        raise invalid_form(
            "nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE_CHARS} or fewer in length."
        )
    return nonce


def _validate_embed(index: int, embed: JSON) -> int:
    total = 0
    for path, limit in _EMBED_LIMITS:
        value: Any = embed
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            total += len(value)
            if len(value) > limit:
                raise invalid_form(
                    f"embeds.{index}.{path}",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(f"embeds.{index}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
    for number, item in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = str(item.get(key, ""))
            total += len(text)
            if not text or len(text) > limit:
                raise invalid_form(
                    f"embeds.{index}.fields.{number}.{key}",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {limit} in length.",
                )
    return total


def _validate_allowed_mentions(mentions: Any) -> None:
    if not isinstance(mentions, dict):
        return
    parse = mentions.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and mentions.get(kind):
            # Discord rejects asking to parse all users/roles and listing some at once.
            raise invalid_form(
                f"allowed_mentions.{kind}",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )

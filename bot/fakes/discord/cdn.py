"""The fake CDN: attachments stored by the fake and served at signed-looking, expiring URLs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from yarl import URL

from bot.fakes.discord.bodies import IncomingFile, guess_content_type
from bot.fakes.discord.messages import StoredFile
from bot.fakes.discord.models import JSON
from bot.fakes.discord.snowflakes import Clock, SnowflakeMinter

# Discord's signed URLs live about a day (reference.mdx "Signed Attachment CDN URLs").
URL_LIFETIME_S = 24 * 3600


@dataclass(frozen=True)
class _Source:
    data: bytes | None = None
    path: Path | None = None


class Cdn:
    """Stores attachments and serves them at ``/attachments/{channel}/{id}/{filename}``."""

    def __init__(self, clock: Clock, ids: SnowflakeMinter, base_url: Callable[[], str]) -> None:
        self._clock = clock
        self._ids = ids
        self._base_url = base_url
        self._secret = secrets.token_bytes(16)
        self.files: dict[int, StoredFile] = {}
        self._sources: dict[int, _Source] = {}
        self.downloads: list[int] = []

    def store_bytes(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        *,
        ephemeral: bool = False,
        content_type: str | None = None,
        size: tuple[int, int] | None = None,
    ) -> StoredFile:
        """Keep a member's upload in memory and give it a signed URL."""
        stored = self._make(
            channel_id,
            filename,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            head=data,
            content_type=content_type or guess_content_type(filename),
            ephemeral=ephemeral,
            dimensions=size or _png_size(data),
        )
        self._sources[stored.id] = _Source(data=data)
        return stored

    async def store_path(
        self,
        channel_id: int,
        path: Path,
        *,
        ephemeral: bool = False,
        content_type: str | None = None,
        size: tuple[int, int] | None = None,
    ) -> StoredFile:
        """Serve a file from disk (streamed, never loaded whole); hashed off the event loop."""
        size_bytes, sha256, head = await asyncio.to_thread(_hash_file, path)
        stored = self._make(
            channel_id,
            path.name,
            size_bytes=size_bytes,
            sha256=sha256,
            head=head,
            content_type=content_type or guess_content_type(path.name),
            ephemeral=ephemeral,
            dimensions=size or _png_size(head),
        )
        self._sources[stored.id] = _Source(path=path)
        return stored

    def store_upload(self, channel_id: int, incoming: IncomingFile, filename: str) -> StoredFile:
        """Record a file the bot uploaded; servable only if it was small enough to keep whole."""
        stored = self._make(
            channel_id,
            filename,
            size_bytes=incoming.size_bytes,
            sha256=incoming.sha256,
            head=incoming.head,
            content_type=guess_content_type(filename),
            ephemeral=False,
            dimensions=_png_size(incoming.head),
        )
        if stored.is_complete:
            self._sources[stored.id] = _Source(data=incoming.head)
        return stored

    def fresh_payload(self, stored: StoredFile) -> JSON:
        """The attachment object with URLs signed now: Discord re-signs on every fetch."""
        data = stored.payload()
        url, proxy_url = self._signed(stored.channel_id, stored.id, stored.filename)
        data["url"], data["proxy_url"] = url, proxy_url
        return data

    def url_is_valid(self, url: str) -> bool:
        """Whether a URL this CDN issued still has a valid, unexpired signature."""
        parsed = URL(url)
        return self._check(parsed.path, parsed.query.get("ex"), parsed.query.get("hm"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET an attachment: 404 once the signature expired, as Discord's CDN answers."""
        attachment_id = int(request.match_info["attachment_id"])
        source = self._sources.get(attachment_id)
        stored = self.files.get(attachment_id)
        query = request.rel_url.query
        path = request.rel_url.path.removeprefix("/media")
        if source is None or stored is None:
            return web.Response(status=404, text="Not Found")
        if not self._check(path, query.get("ex"), query.get("hm")):
            return web.Response(status=404, text="This content is no longer available.")
        self.downloads.append(attachment_id)
        if source.path is not None:
            return web.FileResponse(source.path, headers={"Content-Type": stored.content_type})
        return web.Response(body=source.data, content_type=stored.content_type)

    def _make(
        self,
        channel_id: int,
        filename: str,
        *,
        size_bytes: int,
        sha256: str,
        head: bytes,
        content_type: str,
        ephemeral: bool,
        dimensions: tuple[int, int] | None,
    ) -> StoredFile:
        attachment_id = self._ids.mint()
        url, proxy_url = self._signed(channel_id, attachment_id, filename)
        stored = StoredFile(
            id=attachment_id,
            channel_id=channel_id,
            filename=filename,
            size_bytes=size_bytes,
            sha256=sha256,
            content_type=content_type,
            head=head,
            url=url,
            proxy_url=proxy_url,
            width=None if dimensions is None else dimensions[0],
            height=None if dimensions is None else dimensions[1],
            ephemeral=ephemeral,
        )
        self.files[attachment_id] = stored
        return stored

    def _signed(self, channel_id: int, attachment_id: int, filename: str) -> tuple[str, str]:
        """The URL and proxy URL of an attachment, signed to expire a day from now."""
        path = f"/attachments/{channel_id}/{attachment_id}/{filename}"
        issued = int(self._clock.now())
        expires = issued + URL_LIFETIME_S
        query = f"ex={expires:x}&is={issued:x}&hm={self._sign(path, f'{expires:x}')}&"
        base = self._base_url()
        return f"{base}{path}?{query}", f"{base}/media{path}?{query}"

    def _sign(self, path: str, expires_hex: str) -> str:
        return hmac.new(self._secret, f"{path}|{expires_hex}".encode(), "sha256").hexdigest()

    def _check(self, path: str, expires_hex: str | None, signature: str | None) -> bool:
        if not expires_hex or not signature:
            return False
        if not hmac.compare_digest(self._sign(path, expires_hex), signature):
            return False
        return int(expires_hex, 16) > self._clock.now()


def _hash_file(path: Path) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            if not head:
                head = chunk[:64]
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest(), head


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header, so image uploads look like Discord's."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None

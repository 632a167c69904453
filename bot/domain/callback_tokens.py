"""Per-task callback URLs the bot can verify: `<omni.callback_url>/<external id>.<signature>`.

Kling signs nothing it posts (no signature or auth header is documented), so the bot signs the URL
it hands out instead: the signature is an HMAC of the task's external id under a key only the bot
knows. A callback whose signature is wrong, or whose token names another task than its body, was not
made from a URL the bot gave out: it is refused (403) and changes nothing. The key lives beside the
database (`<database>.callback-key`, readable by its owner only), so callbacks of tasks sent before
a restart still verify; if it is lost, those callbacks are refused and polling finds the tasks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

_KEY_BYTES = 32
_SIGNATURE_CHARS = 32  # 192 bits of the HMAC, URL-safe base64: far beyond guessing
_DOMAIN = b"kling-bot omni callback v1\0"  # this key signs callback tokens and nothing else


class CallbackSigner:
    """Makes and checks callback tokens for tasks, by external id."""

    def __init__(self, key: bytes, base_url: str) -> None:
        if len(key) < 16:
            raise ValueError("a callback key has at least 16 bytes")
        self._key = key
        self.base_url = base_url.rstrip("/")

    def token_for(self, external_id: str) -> str:
        """`<external id>.<signature>`: names the task and proves the bot made it."""
        return f"{external_id}.{self._signature(external_id)}"

    def url_for(self, external_id: str) -> str:
        """The `callback_url` sent with this task's create."""
        return f"{self.base_url}/{self.token_for(external_id)}"

    def verify(self, token: str) -> str | None:
        """The external id a genuine token names, or None for anything else."""
        external_id, dot, signature = token.rpartition(".")
        if not dot or not external_id or len(signature) != _SIGNATURE_CHARS:
            return None
        expected = self._signature(external_id)
        return external_id if hmac.compare_digest(expected, signature) else None

    def _signature(self, external_id: str) -> str:
        digest = hmac.new(self._key, _DOMAIN + external_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:_SIGNATURE_CHARS]


def callback_key_path(database: Path) -> Path:
    """Where the callback key is kept: beside the database."""
    return database.with_name(database.name + ".callback-key")


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, made (random, owner-only) on first use (blocking: call in a thread)."""
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        existing = None
    if existing is not None and len(existing) >= _KEY_BYTES:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(_KEY_BYTES)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if existing is not None:
            os.replace(partial, path)  # a damaged key: nothing signed with it can verify anyway
        else:
            os.link(partial, path)  # fails if another process made one meanwhile: use theirs
    except FileExistsError:
        key = path.read_bytes()
    finally:
        partial.unlink(missing_ok=True)
    return key

"""How a finished video reaches its channel, decided from plain data: a file or a link (by the
upload limit), which posts to try when a permission is missing, and the message nonce that makes
a post findable (and never repeated) after a crash. Pure: the courier and the Discord deliverer
act on these.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass
from pathlib import Path

from bot.domain.channel_rights import ChannelRights


class DeliveryError(Exception):
    """A post failed. `permanent` says whether trying again later could help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class ResultFile:
    """A finished video: the downloaded copy (if it could be kept) and the API's URL."""

    url: str
    path: Path | None  # None when the file was too large to download or keep
    size_bytes: int | None


class Form(enum.Enum):
    """How a result reaches the member."""

    FILE = "file"  # the MP4 as an attachment
    LINK = "link"  # an embed with the link and a note that it expires


def kept_result(results_dir: Path, task_id: int) -> Path:
    """Where a task's video is downloaded to (and kept, until retention removes it)."""
    return results_dir / f"task-{task_id}.mp4"


def result_filename(task_id: int) -> str:
    """The name a task's video carries as an attachment (▶ Extend finds it by this name)."""
    return f"kling-{task_id}.mp4"


def choose_form(result: ResultFile, upload_limit_bytes: int) -> Form:
    """Attach the MP4 when we have it and it fits the channel's upload limit, else link it."""
    if result.path is None or result.size_bytes is None:
        return Form.LINK
    return Form.FILE if result.size_bytes <= upload_limit_bytes else Form.LINK


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """One way of posting a result in its channel."""

    form: Form
    is_reply: bool  # replying to the status message needs Read Message History


def channel_posts(
    form: Form, rights: ChannelRights | None, *, has_status: bool
) -> list[ChannelPost]:
    """The posts to try in the channel, best first, each needing less than the one before: the
    file as a reply, the file without the reply, the link as a reply, the link alone.

    Known rights skip what Discord would refuse (refusals count towards its invalid-request
    limit); unknown ones (an uncached channel) try them all.
    """
    forms = [Form.FILE, Form.LINK] if form is Form.FILE else [Form.LINK]
    replies = [True, False] if has_status else [False]
    posts = [ChannelPost(f, reply) for f in forms for reply in replies]
    if rights is None:
        return posts
    if not rights.can_post:
        return []
    return [
        post
        for post in posts
        if (post.form is Form.LINK or rights.attach_files)
        and (not post.is_reply or rights.read_message_history)
    ]


NONCE_MAX_CHARS = 25  # Discord refuses a longer message nonce


def delivery_nonce(external_id: str) -> str:
    """The message nonce for a task's result: unique across databases, as its external id is.

    The external id (`kob-` + 32 hex digits) is longer than Discord's 25 characters, so the
    nonce is a 120-bit digest of it: a reset database's task #1 never matches an old post.
    """
    digest = hashlib.blake2b(external_id.encode(), digest_size=15).digest()
    return "k" + base64.b32encode(digest).decode().lower()

"""The result message: what is posted in the channel (or sent privately) when a video is
ready, and how a retry recognises it in the channel's history. Plain data, no discord import."""

from __future__ import annotations

import re

from bot.domain.delivery import Form
from bot.domain.i18n import N_, _, translated
from bot.domain.records import TaskRecord
from bot.domain.wording import human_size, human_sizes_apart
from bot.features.render import CONTENT_MAX_CHARS, RERUN_EMOJI, task_marker

_RESULT_PHRASE = N_("your video is ready")


def is_result_text(content: str, task_id: int) -> bool:
    """True when a message's content is `result_text` for this task (not for task #420)."""
    # In the language it was posted in: the server's now, or English (before one was set).
    for phrase, marker in (
        (translated(_RESULT_PHRASE), task_marker(task_id)),
        (_RESULT_PHRASE, f"Task #{task_id}"),
    ):
        if phrase in content.lower() and re.search(re.escape(marker) + r"(?!\d)", content):
            return True
    return False


def result_text(
    task: TaskRecord,
    form: Form,
    size_bytes: int | None,
    upload_limit: int,
    *,
    url: str | None = None,
    link_reason: str | None = None,
    has_buttons: bool = False,
) -> str:
    """The result message's content: ping the requester, name the task, and for a link say
    why it isn't attached (`link_reason` when the bot knows better than the sizes) and that it
    expires. Never the prompt (content pings; it's capped)."""
    ready = f"{translated(_RESULT_PHRASE)}! 🎬 {task_marker(task.id)}"
    head = ready[0].upper() + ready[1:] if task.user_id is None else f"<@{task.user_id}> {ready}"
    hint = (
        _("Press {emoji} Rerun (or react with {emoji}) to make another take.")
        if has_buttons
        else _("React with {emoji} to make another take.")
    ).format(emoji=RERUN_EMOJI)
    if form is Form.FILE:
        return f"{head} · {hint}"
    link = url or task.result_url or ""
    limit = human_size(upload_limit)
    if link_reason is not None:
        why = link_reason
    elif size_bytes is None:
        why = _("It's too large to attach here (this server's upload limit is {limit})").format(
            limit=limit
        )
    elif size_bytes > upload_limit:
        size, limit = human_sizes_apart(size_bytes, upload_limit)
        why = _(
            "It's {size}, too large to attach here (this server's upload limit is {limit})"
        ).format(size=size, limit=limit)
    else:
        why = _("Discord wouldn't take it as an attachment")
    # CometAPI serves results from Kling, which keeps generated videos about 30 days
    expiry = _(
        "Kling's links expire after about 30 days: download the video if you want to keep it."
    )
    because = _("{why}, so this is Kling's own link.").format(why=why)
    lines = [head, link, f"{because} {expiry}", hint]
    # Only an absurd URL could overflow 2000; the optional lines go first, never the link.
    while len("\n".join(lines)) > CONTENT_MAX_CHARS and len(lines) > 2:
        lines.pop()
    return "\n".join(lines)


def private_result_text(
    task: TaskRecord,
    form: Form,
    size_bytes: int | None,
    upload_limit: int,
    *,
    url: str | None = None,
    channel_problem: str,
) -> str:
    """The result sent to the member in private because the channel refused it, saying why."""
    lead = _("Posting in {channel} failed ({problem}), so it comes to you here.").format(
        channel=f"<#{task.channel_id}>", problem=translated(channel_problem)
    )
    text = f"{lead}\n{result_text(task, form, size_bytes, upload_limit, url=url)}"
    return (
        text
        if len(text) <= CONTENT_MAX_CHARS
        else result_text(task, form, size_bytes, upload_limit, url=url)
    )

"""What the bot may do in a channel, as plain data: may a video be made here at all, and how its
result can reach the channel (a file or a link, a reply or not).

Pure: the cogs and the deliverer turn discord.py's permissions into a `ChannelRights`. A video
is refused before anything is charged where its status message and result could never be
posted; Attach Files and Read Message History only decide the form of the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.i18n import N_, _

# As the server settings name them (in the reader's language, by `_listed`).
VIEW_CHANNEL = N_("View Channel")
SEND_MESSAGES = N_("Send Messages")
SEND_IN_THREADS = N_("Send Messages in Threads")
EMBED_LINKS = N_("Embed Links")
ATTACH_FILES = N_("Attach Files")
READ_HISTORY = N_("Read Message History")


@dataclass(frozen=True, slots=True)
class ChannelRights:
    """The bot's permissions in one channel (or thread), and the thread's state."""

    view_channel: bool
    send_messages: bool  # in a thread: Send Messages in Threads
    embed_links: bool
    attach_files: bool
    read_message_history: bool
    is_thread: bool = False
    is_archived: bool = False  # an archived thread (a post unarchives it unless it is locked)
    is_locked: bool = False  # only members with Manage Threads may unarchive it
    manage_threads: bool = False

    @property
    def send_name(self) -> str:
        """The name of the permission that lets the bot post here, as server settings show it."""
        return SEND_IN_THREADS if self.is_thread else SEND_MESSAGES

    @property
    def can_post(self) -> bool:
        """Whether a plain message can be posted here at all."""
        if self.is_archived and self.is_locked and not self.manage_threads:
            return False
        return self.view_channel and self.send_messages


def needed_for_a_video(rights: ChannelRights) -> tuple[str, ...]:
    """Every permission a video needs in this channel: to show its status and post its result."""
    return (VIEW_CHANNEL, rights.send_name, EMBED_LINKS)


def missing_for_a_video(rights: ChannelRights) -> tuple[str, ...]:
    """The permissions the bot lacks here for a video, without the ones Discord only implies.

    Without View Channel Discord reports every permission off, and without Send Messages it
    reports Embed Links and Attach Files off too: only the cause is named, never its shadow.
    """
    if not rights.view_channel:
        return (VIEW_CHANNEL,)
    if not rights.send_messages:
        return (rights.send_name,)
    if not rights.embed_links:
        return (EMBED_LINKS,)
    return ()


def video_refusal(rights: ChannelRights) -> str | None:
    """The sentence refusing a video in this channel, or None when a video may be made here."""
    if rights.is_archived and rights.is_locked and not rights.manage_threads:
        return _(
            "This thread is archived and locked, so the bot can't post your video in it. Ask a "
            "moderator to reopen it, or use the command in another channel. Nothing was charged."
        )
    missing = missing_for_a_video(rights)
    if not missing:
        return None
    needed = needed_for_a_video(rights)
    sentence = (
        _(
            "The bot can't post videos here: it is missing {missing} in this thread. Ask a "
            "server admin to give the bot {needed} here, then try again. Nothing was charged."
        )
        if rights.is_thread
        else _(
            "The bot can't post videos here: it is missing {missing} in this channel. Ask a "
            "server admin to give the bot {needed} here, then try again. Nothing was charged."
        )
    )
    return sentence.format(missing=_listed(missing), needed=_listed(needed))


def clip_refusal(rights: ChannelRights) -> str | None:
    """With a member's clip the bot also attaches its checked copy to the status message (Kling
    fetches clips from Discord), so Attach Files is needed too; None when it may."""
    refusal = video_refusal(rights)
    if refusal is not None or rights.attach_files:
        return refusal
    sentence = (
        _(
            "The bot can't take clips here: it re-posts your clip on the task's message so that "
            "Kling can fetch it, and it is missing {permission} in this thread. Ask a server "
            "admin to give the bot {permission} here, then try again. Nothing was charged."
        )
        if rights.is_thread
        else _(
            "The bot can't take clips here: it re-posts your clip on the task's message so that "
            "Kling can fetch it, and it is missing {permission} in this channel. Ask a server "
            "admin to give the bot {permission} here, then try again. Nothing was charged."
        )
    )
    return sentence.format(permission=_listed((ATTACH_FILES,)))


def missing_to_post(rights: ChannelRights) -> tuple[str, ...]:
    """What keeps the bot from posting here at all (a link needs no more), cause not shadows."""
    if not rights.view_channel:
        return (VIEW_CHANNEL,)
    if not rights.send_messages:
        return (rights.send_name,)
    return ()


def _listed(names: tuple[str, ...]) -> str:
    quoted = [f"**{_(name)}**" for name in names]
    if len(quoted) == 1:
        return quoted[0]
    return _("{first} and {last}").format(first=", ".join(quoted[:-1]), last=quoted[-1])

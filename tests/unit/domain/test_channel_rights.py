"""Where a video may be made: the bot's permissions in a channel, as plain data."""

from __future__ import annotations

import pytest

from bot.domain.channel_rights import ChannelRights, missing_for_a_video, video_refusal

ALL = ChannelRights(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)


def rights(**changes: bool) -> ChannelRights:
    return ChannelRights(**{**{f: getattr(ALL, f) for f in ALL.__slots__}, **changes})


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (rights(), ()),
        (rights(attach_files=False, read_message_history=False), ()),  # a link, not a reply
        # Discord reports everything off without View Channel, and Embed Links and Attach
        # Files off without Send Messages: only the cause is named.
        (rights(view_channel=False, send_messages=False, embed_links=False), ("View Channel",)),
        (rights(send_messages=False, embed_links=False, attach_files=False), ("Send Messages",)),
        (rights(embed_links=False), ("Embed Links",)),
        (rights(is_thread=True, send_messages=False), ("Send Messages in Threads",)),
    ],
)
def test_what_a_video_is_missing(given: ChannelRights, missing: tuple[str, ...]) -> None:
    assert missing_for_a_video(given) == missing
    assert (video_refusal(given) is None) == (missing == ())


def test_the_refusal_names_what_is_missing_and_what_to_ask_for() -> None:
    text = video_refusal(rights(is_thread=True, send_messages=False))
    assert text == (
        "The bot can't post videos here: it is missing **Send Messages in Threads** in this "
        "thread. Ask a server admin to give the bot **View Channel**, **Send Messages in "
        "Threads** and **Embed Links** here, then try again. Nothing was charged."
    )


def test_an_archived_thread_is_refused_only_when_locked() -> None:
    assert video_refusal(rights(is_thread=True, is_archived=True)) is None  # a post reopens it
    locked = rights(is_thread=True, is_archived=True, is_locked=True)
    assert "archived and locked" in (video_refusal(locked) or "")
    assert not locked.can_post
    assert (
        video_refusal(rights(is_thread=True, is_archived=True, is_locked=True, manage_threads=True))
        is None
    )

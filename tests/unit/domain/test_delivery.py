"""Delivery decisions that need no Discord: the message nonce, the posts to try."""

from __future__ import annotations

import pytest

from bot.domain.channel_rights import ChannelRights
from bot.domain.delivery import NONCE_MAX_CHARS, ChannelPost, Form, channel_posts, delivery_nonce
from bot.domain.records import new_external_id


def test_the_nonce_fits_discord_and_is_unique_per_external_id() -> None:
    ids = [new_external_id() for _ in range(10_000)]
    nonces = {delivery_nonce(external_id) for external_id in ids}
    assert len(nonces) == len(ids)
    assert all(len(nonce) <= NONCE_MAX_CHARS for nonce in nonces)
    assert delivery_nonce(ids[0]) == delivery_nonce(ids[0])  # a retry sends the same nonce


def rights(**changes: bool) -> ChannelRights:
    granted = dict(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
    )
    return ChannelRights(**{**granted, **changes})


FILE_REPLY = ChannelPost(Form.FILE, is_reply=True)
FILE_ALONE = ChannelPost(Form.FILE, is_reply=False)
LINK_REPLY = ChannelPost(Form.LINK, is_reply=True)
LINK_ALONE = ChannelPost(Form.LINK, is_reply=False)


@pytest.mark.parametrize(
    ("form", "given", "has_status", "posts"),
    [
        # Unknown rights: everything, best first, each needing less than the one before.
        (Form.FILE, None, True, [FILE_REPLY, FILE_ALONE, LINK_REPLY, LINK_ALONE]),
        (Form.LINK, None, True, [LINK_REPLY, LINK_ALONE]),
        (Form.FILE, None, False, [FILE_ALONE, LINK_ALONE]),
        (Form.FILE, rights(), True, [FILE_REPLY, FILE_ALONE, LINK_REPLY, LINK_ALONE]),
        (Form.FILE, rights(read_message_history=False), True, [FILE_ALONE, LINK_ALONE]),
        (Form.FILE, rights(attach_files=False), True, [LINK_REPLY, LINK_ALONE]),
        (Form.FILE, rights(send_messages=False, attach_files=False), True, []),
        (Form.FILE, rights(view_channel=False), True, []),
    ],
)
def test_the_posts_to_try_in_the_channel(
    form: Form, given: ChannelRights | None, has_status: bool, posts: list[ChannelPost]
) -> None:
    assert channel_posts(form, given, has_status=has_status) == posts

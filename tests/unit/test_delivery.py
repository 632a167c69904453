"""Delivery decisions that need no Discord: the message nonce of a result."""

from __future__ import annotations

from bot.delivery import NONCE_MAX_CHARS, delivery_nonce
from bot.records import new_external_id


def test_the_nonce_fits_discord_and_is_unique_per_external_id() -> None:
    ids = [new_external_id() for _ in range(10_000)]
    nonces = {delivery_nonce(external_id) for external_id in ids}
    assert len(nonces) == len(ids)
    assert all(len(nonce) <= NONCE_MAX_CHARS for nonce in nonces)
    assert delivery_nonce(ids[0]) == delivery_nonce(ids[0])  # a retry sends the same nonce

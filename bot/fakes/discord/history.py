"""Get Channel Messages: Discord's paging rules (``before``, ``after``, ``around``, ``limit``).

Discord always answers newest first, whichever anchor is used; what the anchor changes is *which*
messages are picked: ``before`` the ones just older than it, ``after`` the ones just newer than
it (not the newest of the channel), ``around`` half the limit on each side plus the anchor
itself. discord.py's ``history()`` pages on exactly that: its after-strategy takes ``data[0]``
(the newest of the page) as the next ``after`` and reverses the page for ``oldest_first``; its
before-strategy takes ``data[-1]``; it stops at the first page shorter than 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.fakes.discord.messages import Message
from bot.fakes.discord.wire import invalid_form

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
ANCHORS = ("around", "before", "after")


@dataclass(frozen=True)
class HistoryQuery:
    """A validated query: the page size and at most one anchor."""

    limit: int = DEFAULT_LIMIT
    before: int | None = None
    after: int | None = None
    around: int | None = None


def parse_history_query(query: Mapping[str, str]) -> HistoryQuery:
    """The query string checked as Discord checks it (400/50035 on a bad value).

    Discord documents ``before``, ``after`` and ``around`` as mutually exclusive; the fake
    refuses a mix (judgment: what Discord does with one is undocumented, so relying on it
    should fail loudly in tests).
    """
    limit = _integer(query, "limit", DEFAULT_LIMIT)
    if limit < 1:
        raise invalid_form(
            "limit", "NUMBER_TYPE_MIN", "int value should be greater than or equal to 1."
        )
    if limit > MAX_LIMIT:
        raise invalid_form(
            "limit", "NUMBER_TYPE_MAX", f"int value should be less than or equal to {MAX_LIMIT}."
        )
    anchors = {key: _snowflake(query[key], key) for key in ANCHORS if key in query}
    if len(anchors) > 1:
        second = sorted(anchors, key=ANCHORS.index)[1]
        raise invalid_form(
            second,
            "BASE_TYPE_INVALID",
            "The before, after, and around parameters are mutually exclusive.",
        )
    return HistoryQuery(limit=limit, **anchors)


def select_history(messages: Sequence[Message], query: HistoryQuery) -> list[Message]:
    """The page Discord returns, newest first, from a channel's visible ``messages``."""
    ordered = sorted(messages, key=lambda m: m.id)
    if query.around is not None:
        half = query.limit // 2
        older = [m for m in ordered if m.id < query.around]
        newer = [m for m in ordered if m.id > query.around]
        anchor = [m for m in ordered if m.id == query.around]
        # An even limit gives limit + 1 messages when the anchor exists (discord.py documents
        # this quirk, and asks for 100 when a caller wants 101).
        picked = older[len(older) - half :] + anchor + newer[:half]
    elif query.after is not None:
        picked = [m for m in ordered if m.id > query.after][: query.limit]
    else:
        bound = query.before
        older = [m for m in ordered if bound is None or m.id < bound]
        picked = older[-query.limit :]
    return picked[::-1]


def _integer(query: Mapping[str, str], key: str, default: int) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value {raw!r} is not int.") from None


def _snowflake(raw: str, key: str) -> int:
    if not raw.isdigit():
        raise invalid_form(key, "NUMBER_TYPE_COERCE", f"Value {raw!r} is not snowflake.")
    return int(raw)

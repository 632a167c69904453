"""Pacing status-message edits within the rate limits Discord announces (pure: time passed in).

Discord counts message edits per channel in a bucket and announces its size on every answer
(`X-RateLimit-Limit` edits per window, `-Remaining`, `-Reset-After`). A burst of commands in one
channel must not become a burst of edits there: each channel's edits are spaced so that no
window ever holds more than the announced limit, and queue positions (the least urgent news)
may use only half of it, so a state change or a final state always finds room. Across all
channels, position edits are also capped, to leave the bot's global budget to results.

Which edit goes next: final states first, then state changes, then positions (front of the line
first); a message is edited at most every `min_interval_s` except for its final state.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SAFETY_S = 0.05  # a window is treated as this much longer than announced (clocks, latency)
POSITION_EDITS_PER_S = 5.0  # queue-position edits per second over all channels


class EditKind(enum.IntEnum):
    """Why a status message needs an edit; lower goes first."""

    FINAL = 0  # the task ended: shown at once and last
    STATE = 1  # a new state, progress or attempt
    POSITION = 2  # only the place in line moved


@dataclass(frozen=True, slots=True)
class Budget:
    """`limit` edits per `window_s` seconds in one channel, as Discord announced it."""

    limit: int
    window_s: float


DEFAULT_BUDGET = Budget(limit=5, window_s=5.0)  # what Discord announces for edits today


@dataclass(frozen=True, slots=True)
class WantedEdit:
    """A status message that is behind its task."""

    task_id: int
    kind: EditKind
    asked_at: float  # older first within a kind
    position: int = 0  # POSITION: the new place in line (front of the line first)
    not_before: float = 0.0  # a retry after a failed edit waits


@dataclass(frozen=True, slots=True)
class Announcement:
    """What one answer's rate-limit headers said about its bucket."""

    limit: int
    remaining: int
    reset_after_s: float


def read_headers(headers: Mapping[str, str]) -> Announcement | None:
    """The bucket's announcement in an answer's headers; None when they are absent or odd."""
    try:
        return Announcement(
            limit=int(headers["X-RateLimit-Limit"]),
            remaining=int(headers["X-RateLimit-Remaining"]),
            reset_after_s=float(headers["X-RateLimit-Reset-After"]),
        )
    except (KeyError, ValueError):
        return None


class EditPacer:
    """The edits made lately, per channel and everywhere, against each channel's budget."""

    def __init__(self, default: Budget = DEFAULT_BUDGET) -> None:
        self._default = default
        self._budgets: dict[int, Budget] = {}
        self._recent: dict[int, deque[tuple[float, EditKind]]] = {}
        self._positions_anywhere: deque[float] = deque()
        self._blocked_until: dict[int, float] = {}

    def budget(self, channel_id: int) -> Budget:
        """The channel's budget: as Discord last announced it, else the default."""
        return self._budgets.get(channel_id, self._default)

    def learn(self, channel_id: int, said: Announcement, now: float) -> None:
        """Take in what Discord said about the channel's edit bucket after an edit."""
        if said.limit < 1:
            return
        known = self._budgets.get(channel_id)
        # Reset-After is the whole window only on the window's first request; later in the
        # window it is what is left of it, so the longest seen is the best estimate.
        window_s = said.reset_after_s
        if said.remaining < said.limit - 1 and known is not None:
            window_s = max(window_s, known.window_s)
        self._budgets[channel_id] = Budget(said.limit, max(window_s, 0.001))
        if said.remaining <= 0:
            self._blocked_until[channel_id] = now + said.reset_after_s

    def record(self, channel_id: int, kind: EditKind, now: float) -> None:
        """An edit is being made now."""
        self._recent.setdefault(channel_id, deque()).append((now, kind))
        if kind is EditKind.POSITION:
            self._positions_anywhere.append(now)

    def ready_at(self, channel_id: int, kind: EditKind, now: float) -> float:
        """The earliest time an edit of this kind may be made in the channel."""
        budget = self.budget(channel_id)
        window_s = budget.window_s + SAFETY_S
        recent = self._recent.get(channel_id, deque())
        while recent and recent[0][0] <= now - window_s:
            recent.popleft()
        while self._positions_anywhere and self._positions_anywhere[0] <= now - 1.0:
            self._positions_anywhere.popleft()
        ready = max(now, self._blocked_until.get(channel_id, now))
        if len(recent) >= budget.limit:
            ready = max(ready, recent[-budget.limit][0] + window_s)
        if kind is EditKind.POSITION:
            share = max(1, budget.limit // 2)
            times = [t for t, k in recent if k is EditKind.POSITION]
            if len(times) >= share:
                ready = max(ready, times[-share] + window_s)
            # Positions also leave room for a state change: never the last edits of a window.
            if len(recent) >= budget.limit - 1 and budget.limit > 1:
                ready = max(ready, recent[-(budget.limit - 1)][0] + window_s)
            cap = max(1, int(POSITION_EDITS_PER_S))
            if len(self._positions_anywhere) >= cap:
                ready = max(ready, self._positions_anywhere[-cap] + 1.0)
        return ready


def choose_edit(
    wanted: Iterable[WantedEdit],
    *,
    channel_id: int,
    pacer: EditPacer,
    last_edit_at: Mapping[int, float],
    min_interval_s: float,
    now: float,
    is_closing: bool = False,
) -> tuple[WantedEdit | None, float]:
    """The edit to make in this channel now, or None and when to look again (loop time).

    Final states skip the per-message interval; closing, state changes skip it too and positions
    are dropped by the caller. The channel's budget applies to every kind.
    """
    best: WantedEdit | None = None
    earliest = float("inf")
    for want in sorted(wanted, key=lambda w: (w.kind, w.position, w.asked_at)):
        ready = max(want.not_before, pacer.ready_at(channel_id, want.kind, now))
        last = last_edit_at.get(want.task_id)
        if last is not None and want.kind is not EditKind.FINAL and not is_closing:
            ready = max(ready, last + min_interval_s)
        if ready <= now:
            best = want
            break
        earliest = min(earliest, ready)
    return best, earliest

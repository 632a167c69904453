"""Discord's clock as the bot sees it, and whether an interaction is still worth answering.

Discord gives a bot 3 s to answer an interaction, counted from its creation (the time in its
snowflake). Interactions replayed after a long gateway outage arrive long past that: answering
is refused (10062), so charging first and refunding after is wasted work and a confusing
history. The age is measured on Discord's clock: the bot's own may be off by seconds (no NTP in
a container), so the offset is learnt from the `Date` header of Discord's answers (whole
seconds, hence a margin before an interaction counts as too old).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

ANSWER_DEADLINE_S = 3.0  # Discord's, for the first answer to an interaction
CLOCK_MARGIN_S = 1.0  # the Date header's whole seconds, and the trip it took
_SAMPLES = 15


def is_too_old_to_answer(created_at_s: float, discord_now_s: float) -> bool:
    """Whether an interaction created at `created_at_s` (epoch seconds, its snowflake) can no
    longer be answered, even allowing for the uncertainty of the clocks."""
    return discord_now_s - created_at_s > ANSWER_DEADLINE_S + CLOCK_MARGIN_S


class DiscordClock:
    """The bot's clock corrected by the offset seen in the `Date` headers of Discord's answers."""

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self._local = local
        self._offsets_s: deque[float] = deque(maxlen=_SAMPLES)

    def learn(self, date_header: str, received_at_s: float) -> None:
        """One answer's `Date` header, received at `received_at_s` on the bot's clock."""
        try:
            sent_at_s = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError):
            return
        # The header drops the fraction of its second: on average half a second.
        self._offsets_s.append(sent_at_s + 0.5 - received_at_s)

    @property
    def offset_s(self) -> float:
        """How far Discord's clock is ahead of the bot's (0 until an answer was seen)."""
        return statistics.median(self._offsets_s) if self._offsets_s else 0.0

    def now(self) -> float:
        """Discord's time now, epoch seconds."""
        return self._local() + self.offset_s

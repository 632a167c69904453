"""How long to wait before trying again: the bot's one backoff policy.

Every retry loop asks a `Backoff` (only the numbers differ): the API client's resends of a
request, the submitter's deferred creates and its store writes, the tracker's lookups of an
unconfirmed create, the courier's deliveries, and the status edits of a final state. A pure
function of the attempt, the server's Retry-After and a random number: the loops around it sleep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "none": exactly the exponential; "equal": between half of it and all of it (spread, but never
# short); "full": between nothing and all of it (the widest spread).
Jitter = Literal["none", "equal", "full"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """`initial_s` before the first retry, `factor` times longer before each next one, at most
    `max_s`, spread by `jitter` and never below `min_s`."""

    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: Jitter = "none"
    min_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.initial_s <= self.max_s:
            raise ValueError(
                f"a backoff needs 0 <= initial_s <= max_s, not {self.initial_s} and {self.max_s}"
            )
        if self.factor < 1:
            raise ValueError(f"a backoff's factor must be at least 1, not {self.factor}")
        if not 0 <= self.min_s <= self.max_s:
            raise ValueError(f"a backoff needs 0 <= min_s <= max_s, not {self.min_s}")

    def delay_s(
        self, attempt: int, *, retry_after_s: float | None = None, random_unit: float = 0.0
    ) -> float:
        """Seconds before retry number `attempt` (1 = the first retry).

        A server's Retry-After wins, capped at `max_s`. Otherwise exponential, with `random_unit`
        (in [0, 1), e.g. `rng.random()`) placing the delay inside the jitter's range.
        """
        if retry_after_s is not None:
            return min(self.max_s, max(0.0, retry_after_s))
        exponent = min(max(attempt - 1, 0), 64)
        ceiling = min(self.max_s, self.initial_s * self.factor**exponent)
        if self.jitter == "full":
            delay = ceiling * random_unit
        elif self.jitter == "equal":
            delay = ceiling / 2 + ceiling / 2 * random_unit
        else:
            delay = ceiling
        return max(self.min_s, delay)

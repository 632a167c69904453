"""How far along a render is, as a member sees it (pure): a bar and about how long is left.

The estimate is the median of how long recent tasks of the same model, mode and length took at
Kling (from the create to the finished video); time is passed in. The bar never fills before
the video is there, and a render past its estimate says so instead of counting below zero.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.i18n import _

BAR_CELLS = 10
FILLED, EMPTY = "▰", "▱"


def expected_render_s(samples_s: Sequence[float]) -> float | None:
    """How long a render like these takes: their median (None without any)."""
    usable = [s for s in samples_s if s > 0]
    return statistics.median(usable) if usable else None


@dataclass(frozen=True, slots=True)
class Progress:
    """What the bar shows: cells filled, and the seconds left as shown (None: past the estimate)."""

    filled: int
    left_s: int | None


def progress(elapsed_s: float, expected_s: float) -> Progress:
    """The bar after `elapsed_s` of a render expected to take `expected_s`."""
    fraction = max(0.0, elapsed_s) / expected_s
    filled = min(BAR_CELLS - 1, int(fraction * BAR_CELLS))  # full only when it is done
    left = expected_s - elapsed_s
    if left <= 0:
        return Progress(BAR_CELLS - 1, None)
    return Progress(filled, _coarse(left))


def _coarse(seconds: float) -> int:
    """Seconds left, rounded up to what is worth telling: 5 s, then 10 s, then 30 s steps.
    Coarse steps also keep the status message from being edited for every second."""
    step = 5 if seconds <= 60 else 10 if seconds <= 180 else 30
    return int(math.ceil(seconds / step) * step)


def progress_text(shown: Progress) -> str:
    """`▰▰▰▱▱▱▱▱▱▱ about 40 s left`, or a note that it takes longer than usual."""
    bar = FILLED * shown.filled + EMPTY * (BAR_CELLS - shown.filled)
    if shown.left_s is None:
        return _("{bar} taking a little longer than usual").format(bar=bar)
    minutes, seconds = divmod(shown.left_s, 60)
    if minutes and seconds:
        left = f"{minutes} min {seconds} s"
    elif minutes:
        left = f"{minutes} min"
    else:
        left = f"{seconds} s"
    return _("{bar} about {left} left").format(bar=bar, left=left)

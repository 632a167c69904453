"""`/storyboard`: parse the shots a member writes (`2: a dog by the sea | 3: it runs`).

Pure. Each shot is `seconds: what happens`, shots are separated by `|`; the model's own rules
(1 to 6 shots, at most 512 characters each, seconds adding up to the duration) are checked when
the request is built, in `bot.domain.request`.
"""

from __future__ import annotations

import re

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _

_SHOT = re.compile(
    r"^\s*(\d{1,2})\s*(?:s|sec|seconds?)?\s*:\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL
)
EXAMPLE = N_("`2: a dog by the sea | 3: it runs along the beach`")
LINES_EXAMPLE = N_("`2: a dog by the sea` and `3: it runs along the beach` on the next line")


def parse_shots(text: str) -> list[tuple[int, str]]:
    """`"2: a dog | 3: it runs"` → [(2, "a dog"), (3, "it runs")], or a refusal with an example."""
    parts = text.split("|")
    if not any(part.strip() for part in parts):
        raise InvalidInput(
            _("`shots` is empty: write the shots like {example}.").format(example=_(EXAMPLE))
        )
    shots = []
    for number, part in enumerate(parts, start=1):
        if not part.strip():
            raise InvalidInput(
                _("Shot {number} is empty: write the shots like {example}.").format(
                    number=number, example=_(EXAMPLE)
                )
            )
        match = _SHOT.match(part)
        if match is None:
            got = part.strip()[:60]
            raise InvalidInput(
                _(
                    "Shot {number} needs its length first, like `3: it runs`; got {got}. "
                    "Write the shots like {example}."
                ).format(number=number, got=repr(got), example=_(EXAMPLE))
            )
        shots.append((int(match.group(1)), match.group(2)))
    return shots


def shots_from_lines(text: str) -> list[tuple[int, str]]:
    """Shots written one a line (`3: it runs`), as the storyboard form takes them; `|` works too.

    Blank lines are skipped, so a form's trailing newline is not an empty shot.
    """
    lines = [line for part in text.splitlines() for line in part.split("|") if line.strip()]
    if not lines:
        raise InvalidInput(
            _("Write at least one shot, one a line, like {example}.").format(
                example=_(LINES_EXAMPLE)
            )
        )
    return parse_shots(" | ".join(lines))

"""The buttons under a posted result (and the status message's Cancel), and their custom ids
(pure).

Each button's `custom_id` names its action and the task (`kob:result:rerun:42`), so any process
of the bot, started at any time, knows what a press means: nothing about a result's buttons is
kept in memory. Discord allows 100 characters; these stay under 40.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.domain.i18n import N_

ResultAction = Literal["rerun", "vary", "extend", "extend_form", "gif", "delete"]
RESULT_ID_TEMPLATE = r"kob:result:(?P<action>rerun|vary|delete):(?P<task_id>[0-9]{1,19})"
# ▶ Extend, ✏️ Extend… and GIF: handled by their own cog (cogs/result_verbs.py).
VERB_ID_TEMPLATE = r"kob:result:(?P<action>extend|extend_form|gif):(?P<task_id>[0-9]{1,19})"


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """How one button looks."""

    action: ResultAction
    label: str
    emoji: str
    is_danger: bool = False


# Five a row: the first row holds what makes something of the result, Delete goes below.
RESULT_BUTTONS = (
    ButtonSpec("rerun", N_("Rerun"), "🔁"),
    ButtonSpec("vary", N_("Variation"), "🎲"),
    ButtonSpec("extend", N_("Extend"), "▶️"),
    ButtonSpec("extend_form", N_("Extend…"), "✏️"),
    ButtonSpec("gif", "GIF", "🎞️"),
    ButtonSpec("delete", N_("Delete"), "🗑️", is_danger=True),
)


def result_custom_id(action: ResultAction, task_id: int) -> str:
    """The custom id of one of a result's buttons."""
    return f"kob:result:{action}:{task_id}"


CANCEL_ID_TEMPLATE = r"kob:cancel:(?P<task_id>[0-9]{1,19})"


def cancel_custom_id(task_id: int) -> str:
    """The custom id of a status message's Cancel button."""
    return f"kob:cancel:{task_id}"

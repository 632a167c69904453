"""What to do with a create whose outcome is unknown: a pure decision, the loop acts on it.

A create cut off on its way (a timeout, a dropped connection, a crash of the bot) may or may not
have made a task, and a task the API made is billed. So the bot looks the task up by its external
id and decides, from what it knows, between four steps:

- adopt it: the lookup found it;
- look again after a pause: a create cut off may still land, or the gateway may not know it yet;
- send it again: lookups are known to work and missed it twice, and it was never resent before;
- give up, refunded: it was resent once already, or the API has it but can't find it, or it was
  never confirmed after every try.

A send is repeated at most once, and never when the API is known to have the task.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.errors import ApiErrorKind
from bot.domain.i18n import N_
from bot.domain.lifecycle import TaskState
from bot.domain.records import TaskEvent

ABSENCE_CONFIRMATIONS = 2  # lookups, a backoff apart, that must miss a create to resend it
MAX_RESENDS = 1  # a create proven absent is sent again once, then given up

# Stored as a task's reason in English, shown in the reader's language (`translated`).
NOT_SENT_AGAIN = N_("The bot could not get the task to the video service.")
MADE_BUT_NOT_FOUND = N_(
    "The video service took the task, but its answer was lost on the way and the bot could not "
    "find the task afterwards."
)
NEVER_CONFIRMED = N_(
    "The video service never confirmed the task, and the bot can't safely send it again."
)


class Lookup(enum.Enum):
    """How the lookup of the task by its external id ended."""

    FOUND = "found"
    MISSED = "missed"  # the API answered: no such task
    FAILED = "failed"  # no answer that says either way


class Step(enum.Enum):
    """What the tracker does next with the task."""

    ADOPT = "adopt"
    LOOK_AGAIN = "look again"
    RESEND = "resend"
    GIVE_UP = "give up"


@dataclass(frozen=True, slots=True)
class ReconcileFacts:
    """All the decision needs: this lookup, the tries so far, and what the history proves."""

    lookup: Lookup
    tries: int  # lookups of this task so far, this one included
    max_tries: int  # lookups that may fail (no answer either way) before giving up
    proven_created: bool  # a resend was refused as a duplicate: the API has the task
    lookups_work: bool | None  # whether the API finds tasks by external id; None: not known
    resends: int  # how often the task was already proven absent and sent again


@dataclass(frozen=True, slots=True)
class Verdict:
    """The step to take; when giving up, the member's sentence and the operator's detail."""

    step: Step
    reason: str = ""
    detail: str = ""


def decide(facts: ReconcileFacts) -> Verdict:
    """Adopt, look again, resend once, or give up (see the module docstring)."""
    if facts.lookup is Lookup.FOUND:
        return Verdict(Step.ADOPT)
    if facts.lookup is Lookup.MISSED and facts.proven_created:
        if facts.tries < ABSENCE_CONFIRMATIONS and facts.lookups_work is not False:
            return Verdict(Step.LOOK_AGAIN)
        # Sending it again would only be refused again, and without its task id the bot can't
        # follow it: end it, refunded (the account may have paid for a video nobody sees).
        return Verdict(Step.GIVE_UP, MADE_BUT_NOT_FOUND, "made but not found")
    if facts.lookup is Lookup.MISSED and facts.lookups_work is True:
        if facts.tries < ABSENCE_CONFIRMATIONS:
            return Verdict(Step.LOOK_AGAIN)
        if facts.resends >= MAX_RESENDS:
            # Every create of it got lost: sending it yet again would loop forever, holding
            # the member's credit.
            detail = f"proven absent again after {MAX_RESENDS} resend(s)"
            return Verdict(Step.GIVE_UP, NOT_SENT_AGAIN, detail)
        return Verdict(Step.RESEND)
    if facts.tries >= facts.max_tries:
        return Verdict(Step.GIVE_UP, NEVER_CONFIRMED, "never confirmed")
    return Verdict(Step.LOOK_AGAIN)


class AfterRefusal(enum.Enum):
    """What a create that did not make a confirmed task leads to."""

    RECONCILE = "reconcile"  # it may exist (or does): look it up, never send it blindly
    RETRY_LATER = "retry later"  # nothing was made: back in line after a backoff
    REJECT = "reject"  # the API refused it for good: end it, refunded, with the API's reason


@dataclass(frozen=True, slots=True)
class RefusalVerdict:
    """The step after a refused create, and what else it tells the submitter."""

    step: AfterRefusal
    pauses_every_create: bool = False  # the account is full (1303) or we are too fast
    proves_created: bool = False  # a duplicate: an earlier send of this id made the task


def after_refused_create(kind: ApiErrorKind) -> RefusalVerdict:
    """Reconcile, retry later, or reject: by what the API's answer means for the money."""
    if kind is ApiErrorKind.DUPLICATE:
        return RefusalVerdict(AfterRefusal.RECONCILE, proves_created=True)
    if kind is ApiErrorKind.AMBIGUOUS:
        return RefusalVerdict(AfterRefusal.RECONCILE)
    if kind.is_retryable:
        paused = kind is ApiErrorKind.RATE_LIMITED
        return RefusalVerdict(AfterRefusal.RETRY_LATER, pauses_every_create=paused)
    return RefusalVerdict(AfterRefusal.REJECT)


# How the move to `ambiguous` after a duplicate refusal begins: the API has the task (an earlier
# send landed), so reconciling it may adopt it or give up, but never sends it again.
PROVEN_CREATED = "create refused as a duplicate: an earlier send made the task"


def resends_of(events: Iterable[TaskEvent]) -> int:
    """How often the task was proven absent and sent again (in this or an earlier run)."""
    return sum(
        1 for e in events if e.from_state is TaskState.AMBIGUOUS and e.to_state is TaskState.QUEUED
    )


def was_proven_created(events: Iterable[TaskEvent]) -> bool:
    """Whether a create of this task was refused as a duplicate (so the API has the task)."""
    return any(
        e.to_state is TaskState.AMBIGUOUS and e.detail.startswith(PROVEN_CREATED) for e in events
    )

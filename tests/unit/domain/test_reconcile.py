"""The decision for a create whose outcome is unknown: adopt, look again, resend once, give up."""

from __future__ import annotations

import pytest

from bot.domain.errors import ApiErrorKind
from bot.domain.reconcile import (
    MADE_BUT_NOT_FOUND,
    NEVER_CONFIRMED,
    NOT_SENT_AGAIN,
    AfterRefusal,
    Lookup,
    ReconcileFacts,
    Step,
    after_refused_create,
    decide,
)

F, M, X = Lookup.FOUND, Lookup.MISSED, Lookup.FAILED


@pytest.mark.parametrize(
    ("lookup", "tries", "proven", "works", "resends", "step", "reason"),
    [
        # Found: adopted, whatever else is known.
        (F, 1, False, None, 0, Step.ADOPT, ""),
        (F, 5, True, False, 1, Step.ADOPT, ""),
        # Lookups work and miss it: once is not proof (it may still land), twice is.
        (M, 1, False, True, 0, Step.LOOK_AGAIN, ""),
        (M, 2, False, True, 0, Step.RESEND, ""),
        (M, 2, False, True, 1, Step.GIVE_UP, NOT_SENT_AGAIN),
        # The API has it (a resend was a duplicate): never resent; look once more, then give up.
        (M, 1, True, True, 0, Step.LOOK_AGAIN, ""),
        (M, 1, True, None, 0, Step.LOOK_AGAIN, ""),
        (M, 1, True, False, 0, Step.GIVE_UP, MADE_BUT_NOT_FOUND),
        (M, 2, True, True, 0, Step.GIVE_UP, MADE_BUT_NOT_FOUND),
        # Lookups don't work (CometAPI) or can't be tested: a miss proves nothing.
        (M, 2, False, False, 0, Step.LOOK_AGAIN, ""),
        (M, 4, False, None, 0, Step.LOOK_AGAIN, ""),
        (M, 5, False, False, 0, Step.GIVE_UP, NEVER_CONFIRMED),
        # No answer either way: look again until the tries run out.
        (X, 1, False, True, 0, Step.LOOK_AGAIN, ""),
        (X, 4, True, True, 0, Step.LOOK_AGAIN, ""),
        (X, 5, False, True, 0, Step.GIVE_UP, NEVER_CONFIRMED),
    ],
)
def test_the_verdict(
    lookup: Lookup,
    tries: int,
    proven: bool,
    works: bool | None,
    resends: int,
    step: Step,
    reason: str,
) -> None:
    facts = ReconcileFacts(
        lookup=lookup,
        tries=tries,
        max_tries=5,
        proven_created=proven,
        lookups_work=works,
        resends=resends,
    )
    verdict = decide(facts)
    assert (verdict.step, verdict.reason) == (step, reason)


def test_a_task_is_never_sent_more_than_twice() -> None:
    """Whatever the lookups say, a task with one resend behind it is never resent."""
    for lookup in Lookup:
        for tries in range(1, 8):
            for proven in (False, True):
                for works in (None, False, True):
                    facts = ReconcileFacts(lookup, tries, 5, proven, works, resends=1)
                    assert decide(facts).step is not Step.RESEND


@pytest.mark.parametrize(
    ("kind", "step", "pauses", "proves"),
    [
        (ApiErrorKind.DUPLICATE, AfterRefusal.RECONCILE, False, True),
        (ApiErrorKind.AMBIGUOUS, AfterRefusal.RECONCILE, False, False),
        (ApiErrorKind.RATE_LIMITED, AfterRefusal.RETRY_LATER, True, False),
        (ApiErrorKind.TRANSIENT, AfterRefusal.RETRY_LATER, False, False),
        (ApiErrorKind.INVALID_REQUEST, AfterRefusal.REJECT, False, False),
        (ApiErrorKind.MODERATED, AfterRefusal.REJECT, False, False),
        (ApiErrorKind.AUTH, AfterRefusal.REJECT, False, False),
        (ApiErrorKind.OUT_OF_CREDIT, AfterRefusal.REJECT, False, False),
    ],
)
def test_after_a_refused_create(
    kind: ApiErrorKind, step: AfterRefusal, pauses: bool, proves: bool
) -> None:
    verdict = after_refused_create(kind)
    assert (verdict.step, verdict.pauses_every_create, verdict.proves_created) == (
        step,
        pauses,
        proves,
    )


def test_every_error_kind_has_a_verdict_and_only_unconfirmed_ones_are_reconciled() -> None:
    for kind in ApiErrorKind:
        verdict = after_refused_create(kind)
        is_unconfirmed = kind in (ApiErrorKind.AMBIGUOUS, ApiErrorKind.DUPLICATE)
        assert (verdict.step is AfterRefusal.RECONCILE) == is_unconfirmed

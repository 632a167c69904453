"""The `<<<image_N>>>`, `<<<element_N>>>` and `<<<video_N>>>` references of a prompt, and the
sentence refusing one that names an input which wasn't given. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.domain.i18n import N_, translated

PLACEHOLDER = re.compile(r"<<<(image|element|video)_(\d+)>>>")

# Whole sentences for each kind and count (none, one, several): the words agree differently in
# each language.
_NOT_GIVEN = {
    "image": (
        N_("{placeholder} in the prompt refers to image {number}, but no image was given."),
        N_("{placeholder} in the prompt refers to image {number}, but only 1 image was given."),
        N_(
            "{placeholder} in the prompt refers to image {number}, but only {have} images were "
            "given."
        ),
    ),
    "element": (
        N_("{placeholder} in the prompt refers to element {number}, but no element was given."),
        N_("{placeholder} in the prompt refers to element {number}, but only 1 element was given."),
        N_(
            "{placeholder} in the prompt refers to element {number}, but only {have} elements "
            "were given."
        ),
    ),
    "video": (
        N_("{placeholder} in the prompt refers to video {number}, but no video was given."),
        N_("{placeholder} in the prompt refers to video {number}, but only 1 video was given."),
        N_(
            "{placeholder} in the prompt refers to video {number}, but only {have} videos were "
            "given."
        ),
    ),
}


def placeholder_problem(texts: Iterable[str], counts: Mapping[str, int]) -> str | None:
    """The sentence for the first reference to an input that wasn't given; None when all are.
    `counts`: how many images, elements and videos the request has."""
    for text in texts:
        for kind, number_text in PLACEHOLDER.findall(text):
            number = int(number_text)
            have = counts[kind]
            if not 1 <= number <= have:
                return translated(_NOT_GIVEN[kind][min(have, 2)]).format(
                    placeholder=f"`<<<{kind}_{number_text}>>>`", number=number, have=have
                )
    return None

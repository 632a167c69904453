"""The member's language: every sentence a member reads is marked here and read in the language
of whoever is being answered.

`_("…")` translates at once; `N_("…")` only marks a sentence written before anyone asks (a
module constant), which `_()` translates where it is read. A sentence with values keeps one
msgid for the translators: `_("… {count} …").format(count=n)`. Which language is current is a
context variable: the Discord glue sets it per interaction (the member's locale) and per channel
post (the server's); the catalogues themselves are loaded outside the domain (`bot.locales`).
With none set, the source text: English.
"""

from __future__ import annotations

import contextlib
import gettext
from collections.abc import Iterator
from contextvars import ContextVar

ENGLISH = gettext.NullTranslations()

_current: ContextVar[gettext.NullTranslations] = ContextVar("language", default=ENGLISH)


def _(message: str) -> str:
    """`message` in the current language (as written, in English or when not translated)."""
    return _current.get().gettext(message)


def N_(message: str) -> str:
    """Mark a sentence for translation where it is read (with `_()`), not where it is written."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for `count`, by the current language's plural rule."""
    return _current.get().ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, told apart from the same words in another `context`."""
    return _current.get().pgettext(context, message)


def option_name(name: str) -> str:
    """An option's name as the member's Discord shows it (`first_frame` → `première_image`): the
    commands' own catalogue entry (msgctxt "command")."""
    return _current.get().pgettext("command", name)


def translated(text: str) -> str:
    """A sentence kept in English (a task's stored reason) in the current language, when the
    catalogue knows it word for word; as it is otherwise."""
    return _current.get().gettext(text) if text else text


def speak(catalogue: gettext.NullTranslations) -> None:
    """From now on, in this asyncio task (one interaction), sentences come out in `catalogue`."""
    _current.set(catalogue)


@contextlib.contextmanager
def speaking(catalogue: gettext.NullTranslations) -> Iterator[None]:
    """Sentences come out in `catalogue` within the block (a post to a channel)."""
    token = _current.set(catalogue)
    try:
        yield
    finally:
        _current.reset(token)

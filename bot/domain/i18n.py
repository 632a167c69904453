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
import functools
import gettext
import re
from collections.abc import Iterator
from contextvars import ContextVar

ENGLISH = gettext.NullTranslations()
_FIELD = re.compile(r"\{(\w+)(?:[:!][^{}]*)?\}")  # `{name}`, `{size:.1f}`
_LEAST_WORDS = 8  # characters of its own a sentence needs to be recognised with values in it


class Catalogue(gettext.GNUTranslations):
    """A language's translations, which also recognise a sentence kept in English with its
    values filled in (a task's stored reason naming a channel) and translate it around them."""

    @functools.cached_property
    def _filled(self) -> list[tuple[re.Pattern[str], str]]:
        """Each translated sentence with values, as a pattern of its English (the ones with
        the most words of their own first: the most specific wins)."""
        found = []
        messages: dict[object, str] = getattr(self, "_catalog", {})
        for msgid, msgstr in messages.items():
            if not isinstance(msgid, str) or "\x04" in msgid or not _FIELD.search(msgid):
                continue
            words = len(_FIELD.sub("", msgid))
            if words >= _LEAST_WORDS:
                found.append((words, _pattern_of(msgid), msgstr))
        found.sort(key=lambda item: -item[0])
        return [(pattern, msgstr) for _words, pattern, msgstr in found]

    def kept(self, text: str, depth: int = 3) -> str:
        """A sentence kept in English, translated: word for word; else around its values, which
        are translated the same way (a reason within a reason, a list of permissions); else as
        it is."""
        found = self.gettext(text)
        if found != text or depth == 0:
            return found
        for pattern, msgstr in self._filled:
            match = pattern.fullmatch(text)
            if match is not None:
                values = {k: self.kept(v, depth - 1) for k, v in match.groupdict().items()}
                return _filled_in(msgstr, values)
        if ", " in text:
            items = [self.gettext(item) for item in text.split(", ")]
            if items != text.split(", "):
                return ", ".join(items)
        return text


def _filled_in(template: str, values: dict[str, str]) -> str:
    """A translation with the values put back (whatever format spec it gives them)."""
    return _FIELD.sub(lambda field: values.get(field.group(1), ""), template)


def _pattern_of(msgid: str) -> re.Pattern[str]:
    """`the bot can't see {where}: grant …` → a pattern that captures `where`.

    Each value but the last is the shortest one the words after it follow, never reconsidered
    (an atomic group), and the last takes the rest: matching takes time in proportion to the
    text, whatever the text (lazy groups that backtrack would take ages on a crafted one)."""
    fields = list(_FIELD.finditer(msgid))
    pattern, seen = re.escape(msgid[: fields[0].start()]), set()
    for index, field in enumerate(fields):
        name, is_last = field.group(1), index == len(fields) - 1
        words = re.escape(msgid[field.end() : len(msgid) if is_last else fields[index + 1].start()])
        if name in seen:
            value = f"(?P={name})"
        else:
            value = f"(?P<{name}>.+)" if is_last else f"(?P<{name}>.+?)"
        seen.add(name)
        pattern += f"{value}{words}" if is_last else f"(?>{value}{words})"
    return re.compile(pattern, re.DOTALL)


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
    catalogue knows it word for word or with its values filled in; as it is otherwise."""
    catalogue = _current.get()
    if not text:
        return text
    if isinstance(catalogue, Catalogue):
        return catalogue.kept(text)
    return catalogue.gettext(text)


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

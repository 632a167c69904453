"""The `/element` use cases: each server's library of Kling elements, by name.

Knows nothing about discord.py. Moderators add and remove; everyone lists. Wherever a member
gives `elements` (`/video`, `/storyboard`), a name from the library stands for its ID, and IDs
are taken as they are; the names are offered as the member types.
"""

from __future__ import annotations

import re

from bot.domain.errors import InvalidInput
from bot.domain.i18n import N_, _
from bot.domain.moderation import MemberFacts
from bot.domain.records import LibraryElement
from bot.domain.request import ELEMENT_ID_MAX, has_visible_text
from bot.features.quotas import ModeratedUseCase, require_server_moderator

NAME_MAX_CHARS = 32
CHOICE_MAX_CHARS = 100  # Discord's limit for an autocomplete choice's name and value
MAX_CHOICES = 25
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only, as the API takes them
_SEPARATORS = re.compile(r"[,;]")


def split_elements(text: str) -> list[str]:
    """`"mascot, 123"` → ["mascot", "123"] (commas or semicolons, blanks dropped)."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def check_name(name: str) -> str:
    """A library name as members will type it, or a refusal saying what is allowed."""
    name = " ".join(name.split())
    if not name or not has_visible_text(name):
        raise InvalidInput(_("An element's `name` needs a visible word, like `mascot`."))
    if len(name) > NAME_MAX_CHARS:
        raise InvalidInput(
            _("An element's `name` can be at most {most} characters; this one has {count}.").format(
                most=NAME_MAX_CHARS, count=len(name)
            )
        )
    if _SEPARATORS.search(name):
        raise InvalidInput(
            _("An element's `name` can't contain a comma or a semicolon: they separate elements.")
        )
    if _ID.fullmatch(name):
        raise InvalidInput(
            _("An element's `name` can't be only digits: that would read as an element ID.")
        )
    return name


def check_element_id(text: str) -> int:
    """A Kling element ID (a whole number from 1 to 2**63 - 1, in ASCII digits)."""
    text = text.strip()
    if not _ID.fullmatch(text) or not 0 < int(text) <= ELEMENT_ID_MAX:
        raise InvalidInput(
            _(
                "`id` must be a Kling element ID: a whole number from 1 to {most}, in the "
                "digits 0-9; {text} is not one."
            ).format(most=ELEMENT_ID_MAX, text=repr(text[:24]))
        )
    return int(text)


def complete(current: str, names: list[str]) -> list[str]:
    """What the `elements` option may become as the member types: the names that continue its
    last item (those starting with it first), after the items already given."""
    parts = _SEPARATORS.split(current)
    typed = parts[-1].strip().casefold()
    given = {p.strip().casefold() for p in parts[:-1] if p.strip()}
    head = ", ".join(p.strip() for p in parts[:-1] if p.strip())
    fitting = [n for n in names if n.casefold() not in given and typed in n.casefold()]
    fitting.sort(key=lambda n: (not n.casefold().startswith(typed), n.casefold()))
    values = [f"{head}, {name}" if head else name for name in fitting]
    return [v for v in values if len(v) <= CHOICE_MAX_CHARS][:MAX_CHOICES]


class ElementLibrary(ModeratedUseCase):
    """A server's named elements: kept in the store, checked here."""

    async def add(
        self, guild_id: int, actor: MemberFacts, element_id: str, name: str
    ) -> LibraryElement:
        """Name an element for the server (moderators)."""
        await require_server_moderator(
            self._store, self._quotas, guild_id, actor, action=N_("add elements to the library")
        )
        element = LibraryElement(
            guild_id=guild_id,
            name=check_name(name),
            element_id=check_element_id(element_id),
            added_by=actor.user_id,
            added_at=self._clock(),
        )
        if not await self._store.add_element(element):
            raise InvalidInput(
                _(
                    "The library already has an element called {name}; "
                    "`/element remove` it first, or pick another name."
                ).format(name=repr(element.name))
            )
        return element

    async def remove(self, guild_id: int, actor: MemberFacts, name: str) -> LibraryElement:
        """Take a name out of the library (moderators); tasks already made keep their IDs."""
        await require_server_moderator(
            self._store,
            self._quotas,
            guild_id,
            actor,
            action=N_("remove elements from the library"),
        )
        removed = await self._store.remove_element(guild_id, name.strip())
        if removed is None:
            raise InvalidInput(
                _(
                    "The library has no element called {name}; `/element list` shows its names."
                ).format(name=repr(name.strip()[:40]))
            )
        return removed

    async def all(self, guild_id: int) -> list[LibraryElement]:
        """The server's library, by name."""
        return await self._store.list_elements(guild_id)

    async def resolve(self, guild_id: int, text: str | None) -> str | None:
        """`elements` as the member gave it, with library names turned into their IDs."""
        if text is None or not text.strip():
            return text
        by_name = {e.name.casefold(): e for e in await self._store.list_elements(guild_id)}
        ids = []
        for item in split_elements(text):
            if _ID.fullmatch(item):
                ids.append(item)
            elif (found := by_name.get(" ".join(item.split()).casefold())) is not None:
                ids.append(str(found.element_id))
            else:
                raise InvalidInput(
                    _(
                        "`elements` must be Kling element IDs separated by commas, or names from "
                        "this server's library: {item} is neither. `/element list` shows "
                        "the names."
                    ).format(item=repr(item[:40]))
                )
        return ", ".join(ids)

    async def suggest(self, guild_id: int, current: str) -> list[str]:
        """Values of `elements` to offer while the member types (see `complete`)."""
        names = [e.name for e in await self._store.list_elements(guild_id)]
        return complete(current, names)

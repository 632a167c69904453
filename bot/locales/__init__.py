"""The catalogues of the members' languages: one gettext `.po` file per Discord locale beside
this module (`fr.po`, `de.po`), compiled in memory when first asked for.

Babel reads a `.po` file and writes the `.mo` bytes the standard library's `gettext` reads, so
the `.po` files are the only source: nothing to compile at install, nothing to go stale. English
is the source text and needs no catalogue.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.domain.i18n import ENGLISH, Catalogue

CATALOGUE_DIR = Path(__file__).parent


def catalogue_paths() -> dict[str, Path]:
    """Each translated locale (a Discord locale code) and its `.po` file."""
    return {path.stem: path for path in sorted(CATALOGUE_DIR.glob("*.po"))}


@functools.cache
def catalogue_for(locale: str) -> gettext.NullTranslations:
    """The catalogue of a Discord locale (`fr`, `de`), else of its language (`es-419` → `es-ES`),
    else English."""
    paths = catalogue_paths()
    language = locale.split("-")[0]
    path = paths.get(locale) or next(
        (p for name, p in paths.items() if name.split("-")[0] == language), None
    )
    return ENGLISH if path is None else compile_catalogue(path)


def compile_catalogue(path: Path) -> Catalogue:
    """A `.po` file as the standard library's translations (fuzzy entries left out)."""
    with path.open("rb") as source:
        catalogue = read_po(source, abort_invalid=True)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Catalogue(compiled)


def load_catalogues() -> tuple[str, ...]:
    """Compile every catalogue now (before the gateway, off the event loop): the locales."""
    locales = tuple(catalogue_paths())
    for locale in locales:
        catalogue_for(locale)
    return locales

"""What the catalogues must translate, and bringing them up to date.

Two sources, keyed as the bot looks them up: every sentence marked in `bot/` and `cogs/` (`_`,
`N_`, `ngettext`, `pgettext`: Babel's Python extractor), and every name, description and choice
of the slash commands (asked of discord.py itself, as the translator is asked when it syncs).

    python -m tests.helpers.catalogues     # add new msgids to each .po (empty), drop gone ones
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.ext import commands

from bot.discord.client import COGS
from bot.discord.language import command_key
from bot.locales import catalogue_paths

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("bot", "cogs")
Key = tuple[str | None, str]  # (msgctxt, msgid)


@dataclass(frozen=True)
class Wanted:
    """One message the code asks the catalogues for."""

    context: str | None
    msgid: str
    plural: str | None = None
    where: str = ""


def marked_in_source() -> Iterator[Wanted]:
    """Every literal marked for translation in bot/ and cogs/ (the fakes speak no language)."""
    for folder in SOURCE_DIRS:
        found = extract_from_dir(
            ROOT / folder, directory_filter=lambda path: "fakes" not in Path(path).parts
        )
        for filename, _lineno, message, _comments, context in found:
            singular, plural = (
                (message[0], message[1])
                if isinstance(message, tuple)
                else (
                    message,
                    None,
                )
            )
            yield Wanted(context, singular, plural, f"{folder}/{filename}")


class _Recorder(app_commands.Translator):
    def __init__(self) -> None:
        self.keys: set[Key] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        self.keys.add(command_key(string.message, context.location, context.data))
        return None


def _cog_commands() -> Iterator[app_commands.Command[..., object] | app_commands.Group]:
    for name in COGS:
        module = importlib.import_module(name)
        for _name, member in inspect.getmembers(module, inspect.isclass):
            if issubclass(member, commands.Cog) and member.__module__ == name:
                yield from member.__cog_app_commands__


def in_commands() -> Iterator[Wanted]:
    """The names, descriptions and choices of every slash command, as the translator sees them."""

    async def record() -> set[Key]:
        recorder = _Recorder()
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(
            discord.Client(intents=discord.Intents.none())
        )
        for command in _cog_commands():
            await command.get_translated_payload(tree, recorder)
        return recorder.keys

    for context, msgid in sorted(asyncio.run(record()), key=lambda k: (k[0] or "", k[1])):
        yield Wanted(context, msgid, where="command definitions")


def wanted() -> dict[Key, Wanted]:
    """Every message the catalogues must translate, by (msgctxt, msgid)."""
    found: dict[Key, Wanted] = {}
    for item in (*marked_in_source(), *in_commands()):
        found.setdefault((item.context, item.msgid), item)
    return found


def read_catalogue(path: Path) -> Catalog:
    """A `.po` file as Babel's catalogue."""
    with path.open("rb") as source:
        return read_po(source)


def update(path: Path, messages: dict[Key, Wanted]) -> None:
    """Rewrite a `.po` file with exactly these messages, keeping the translations it had."""
    old = read_catalogue(path)
    new = Catalog(
        locale=old.locale,
        project="kling-omni-bot",
        fuzzy=False,
        header_comment=f"# {old.locale_identifier} catalogue of Kling Omni Bot (README: Languages)",
    )
    new.mime_headers = old.mime_headers
    for (context, msgid), item in sorted(messages.items(), key=lambda i: (i[0][1], i[0][0] or "")):
        key: str | tuple[str, str] = msgid if item.plural is None else (msgid, item.plural)
        kept = old.get(msgid, context=context)
        string: str | tuple[str, ...] = "" if item.plural is None else ("", "")
        if kept is not None and kept.string:
            string = kept.string
        new.add(key, string, context=context, locations=(), auto_comments=(item.where,))
    with path.open("wb") as target:
        write_po(target, new, width=100, omit_header=False, include_lineno=False)


def main() -> None:
    """Bring every catalogue up to date with the code."""
    messages = wanted()
    for locale, path in catalogue_paths().items():
        update(path, messages)
        print(f"{locale}: {len(messages)} messages")


if __name__ == "__main__":
    main()

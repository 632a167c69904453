"""The engine's and the store's English sentences that the catalogues translate are the ones
those layers really write (a reworded sentence there would silently stay English)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.domain.i18n import speaking, translated
from bot.features.stored_reasons import STORED_REASONS
from bot.locales import catalogue_for

ROOT = Path(__file__).resolve().parents[3]
_FIELD = re.compile(r"\{\w+\}")


def _written_below_the_features() -> set[str]:
    """Every string the engine and the store write, a `{}` for each value filled in."""
    found = set()
    for path in [*ROOT.glob("bot/engine/*.py"), *ROOT.glob("bot/store/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                found.add(
                    "".join(
                        str(part.value) if isinstance(part, ast.Constant) else "{}"
                        for part in node.values
                    )
                )
    return found


@pytest.mark.parametrize("reason", STORED_REASONS)
def test_each_marked_reason_is_written_by_the_engine_or_the_store(reason: str) -> None:
    assert _FIELD.sub("{}", reason) in _written_below_the_features()


def test_an_undeliverable_videos_reason_is_shown_translated_around_the_channel() -> None:
    stored = (
        "The video was made but could not be posted: the bot may not post in #général: "
        "grant Send Messages"
    )
    with speaking(catalogue_for("fr")):
        assert translated(stored) == (
            "La vidéo a été faite mais n'a pas pu être publiée : le bot n'a pas le droit de "
            "publier dans #général : accordez Envoyer des messages"
        )
    with speaking(catalogue_for("de")):
        assert translated(stored).startswith("Das Video wurde erstellt, konnte aber nicht")

"""The element library: names and IDs as members may write them, autocompletion of a
comma-separated `elements`, names resolved to IDs, and the store keeping one name per server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.errors import InvalidInput, NotModerator
from bot.domain.moderation import MANAGE_GUILD, MemberFacts
from bot.features.elements import (
    ElementLibrary,
    check_element_id,
    check_name,
    complete,
    split_elements,
)
from bot.settings import QuotaSettings
from bot.store.sql_store import SqlStore

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
MOD = MemberFacts(1, MANAGE_GUILD)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "visible"),
        ("\u200b", "visible"),
        ("x" * 33, "at most 32"),
        ("a, b", "comma"),
        ("a;b", "semicolon"),
        ("123", "only digits"),
    ],
)
def test_names_members_could_not_type_are_refused(name: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        check_name(name)


def test_a_name_keeps_its_case_and_loses_extra_spaces() -> None:
    assert check_name("  Red   Dragon ") == "Red Dragon"


@pytest.mark.parametrize("text", ["0", "abc", "１２３", "9223372036854775808", "-5", "1.5"])
def test_ids_outside_klings_range_or_digits_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="Kling element ID"):
        check_element_id(text)


def test_an_id_is_a_whole_number() -> None:
    assert check_element_id(" 9223372036854775807 ") == 2**63 - 1


def test_completion_continues_the_last_item_after_those_given() -> None:
    names = ["Castle", "Mascot", "Cat"]
    assert complete("", names) == ["Castle", "Cat", "Mascot"]
    assert complete("c", names) == ["Castle", "Cat", "Mascot"]  # starting first, then containing
    assert complete("mascot, c", names) == ["mascot, Castle", "mascot, Cat"]
    assert complete("123; ", names) == ["123, Castle", "123, Cat", "123, Mascot"]
    assert complete("x" * 94 + ", ", names) == ["x" * 94 + ", Cat"]  # none over 100 characters
    assert split_elements(" a ,, b; c ") == ["a", "b", "c"]


@pytest.fixture
def library(store: SqlStore) -> ElementLibrary:
    return ElementLibrary(store, QuotaSettings(), clock=lambda: NOW)


async def test_one_name_per_server_whatever_its_case(library: ElementLibrary) -> None:
    await library.add(10, MOD, "123", "Mascot")
    with pytest.raises(InvalidInput, match="already has"):
        await library.add(10, MOD, "456", "mascot")
    await library.add(11, MOD, "456", "mascot")  # another server: its own library
    assert [(e.name, e.element_id) for e in await library.all(10)] == [("Mascot", 123)]
    with pytest.raises(NotModerator):
        await library.add(10, MemberFacts(2, 0), "789", "Tree")


async def test_names_resolve_to_ids_and_ids_pass_through(library: ElementLibrary) -> None:
    await library.add(10, MOD, "123", "Red Dragon")
    assert await library.resolve(10, "red  dragon; 456") == "123, 456"
    assert await library.resolve(10, None) is None
    with pytest.raises(InvalidInput, match="'Mascot' is neither"):
        await library.resolve(10, "Mascot")
    removed = await library.remove(10, MOD, "RED DRAGON")
    assert removed.element_id == 123
    with pytest.raises(InvalidInput, match="no element called"):
        await library.remove(10, MOD, "red dragon")

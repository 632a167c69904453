"""Every sentence the code marks, and every command's name, description and choice, has a
translation in each catalogue; no catalogue keeps an entry the code no longer asks for; the
values a translation fills in are the msgid's own; command names are names Discord takes."""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.catalog import Catalog, Message

from bot.discord.language import NAME_CONTEXT
from bot.domain.i18n import N_, _, ngettext, option_name, speaking, translated
from bot.locales import catalogue_for, catalogue_paths
from tests.helpers.catalogues import Key, read_catalogue, wanted

LOCALES = sorted(catalogue_paths())
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")  # Discord's rule for chat-input names


@pytest.fixture(scope="module")
def expected() -> dict[Key, object]:
    return dict(wanted())


def _entries(catalogue: Catalog) -> dict[Key, Message]:
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalogue if m.id}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_there_are_two_languages_besides_english() -> None:
    assert {"fr", "de"} <= set(LOCALES)


def test_the_code_marks_sentences_and_commands(expected: dict[Key, object]) -> None:
    # The extraction sees both sources: marked sentences and the commands' definitions.
    assert (None, "Waiting in line") in expected
    assert (NAME_CONTEXT, "duration") in expected
    assert (None, "Make a short video with Kling Omni") in expected


@pytest.mark.parametrize("locale", LOCALES)
def test_every_wanted_message_is_translated(locale: str, expected: dict[Key, object]) -> None:
    entries = _entries(read_catalogue(catalogue_paths()[locale]))
    missing = sorted(set(expected) - set(entries), key=str)
    assert not missing, f"{locale}.po lacks {missing[:5]}: run python -m tests.helpers.catalogues"
    empty = []
    for key in expected:
        strings = entries[key].string
        forms = strings if isinstance(strings, tuple) else (strings,)
        if not all(form.strip() for form in forms) or entries[key].fuzzy:
            empty.append(key)
    assert not empty, f"{locale}.po has untranslated or fuzzy {empty[:5]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_catalogue_keeps_what_the_code_no_longer_asks(
    locale: str, expected: dict[Key, object]
) -> None:
    entries = _entries(read_catalogue(catalogue_paths()[locale]))
    stale = sorted(set(entries) - set(expected), key=str)
    assert not stale, f"{locale}.po has stale {stale[:5]}: run python -m tests.helpers.catalogues"


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_fill_in_the_msgids_own_values(locale: str) -> None:
    for key, message in _entries(read_catalogue(catalogue_paths()[locale])).items():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted_fields = set().union(*(_fields(i) for i in ids))
        for form in strings:
            # A singular form may leave out the count ("Your credit was refunded.").
            assert _fields(form) <= wanted_fields, f"{locale}: {key} → {form!r}"
            if not isinstance(message.id, tuple):
                assert _fields(form) == wanted_fields, f"{locale}: {key} → {form!r}"


@pytest.mark.parametrize("locale", LOCALES)
def test_command_names_are_lowercase_names_discord_takes(locale: str) -> None:
    for (context, msgid), message in _entries(read_catalogue(catalogue_paths()[locale])).items():
        if context == NAME_CONTEXT:
            name = str(message.string)
            assert COMMAND_NAME.match(name) and name == name.lower(), f"{locale}: {msgid} → {name}"


@pytest.mark.parametrize("locale", LOCALES)
def test_an_option_named_in_a_sentence_is_named_as_the_members_discord_shows_it(
    locale: str,
) -> None:
    """`duration` in a refusal is the option the member typed: in French, `durée`."""
    entries = _entries(read_catalogue(catalogue_paths()[locale]))
    names = {m: e.string for (c, m), e in entries.items() if c == NAME_CONTEXT and m != e.string}
    for (context, msgid), message in entries.items():
        if context is not None or isinstance(message.string, tuple):
            continue
        for option in re.findall(r"`(\w+)`", msgid):
            if option in names:
                assert f"`{names[option]}`" in message.string, f"{locale}: {msgid!r}"


def test_sentences_come_out_in_the_current_language_and_english_without_one() -> None:
    assert _("Waiting in line") == "Waiting in line"
    with speaking(catalogue_for("fr")):
        assert _("Waiting in line") == "En file d'attente"
        assert ngettext("{count} credit", "{count} credits", 2).format(count=2) == "2 crédits"
        assert translated(N_("Kling refused the request.")) == "Kling a refusé la demande."
        assert translated("a reason stored in no catalogue") == "a reason stored in no catalogue"
    with speaking(catalogue_for("de")):
        assert _("Waiting in line") == "In der Warteschlange"
    assert _("Waiting in line") == "Waiting in line"


def test_a_regional_locale_gets_its_languages_catalogue_and_others_english() -> None:
    with speaking(catalogue_for("de-AT")):
        assert _("Cancel") == "Abbrechen"
    with speaking(catalogue_for("ja")):
        assert _("Cancel") == "Cancel"


def test_a_stored_reason_with_values_comes_out_translated_around_them() -> None:
    # An undeliverable video's reason is stored in English with the channel's name in it.
    reason = "the bot may not post in #général: grant Attach Files, Embed Links"
    nested = "the bot can't see #x: grant View Channel, and the member takes no direct messages"
    with speaking(catalogue_for("fr")):
        assert translated(reason) == (
            "le bot n'a pas le droit de publier dans #général : accordez Joindre des fichiers, "
            "Intégrer des liens"
        )
        assert translated(nested) == (
            "le bot ne voit pas #x : accordez Voir le salon, et le membre n'accepte pas les "
            "messages privés"
        )
        assert translated("Kling said: no, thanks") == "Kling said: no, thanks"
    assert translated(reason) == reason


def test_sentences_built_from_counts_and_options_read_whole_in_each_language() -> None:
    with speaking(catalogue_for("fr")):
        assert option_name("first_frame") == "première_image"
        text = ngettext("{count} credit a day", "{count} credits a day", 5).format(count=5)
        assert text == "5 crédits par jour"
    with speaking(catalogue_for("de")):
        assert option_name("keep_sound") == "ton_behalten"
        text = ngettext("{count} credit a day", "{count} credits a day", 1).format(count=1)
        assert text == "1 Credit pro Tag"
    assert option_name("first_frame") == "first_frame"


def test_a_long_crafted_text_is_looked_at_in_one_pass_and_left_as_it_is() -> None:
    # Lazy values that backtrack would take minutes on this (the test's time limit catches it).
    crafted = "`a` is 1×1 px; images need at least 1 px on each side" * 200
    with speaking(catalogue_for("fr")):
        assert translated(crafted) == crafted

"""Members read the bot in their own Discord language: the real bot against the fake Discord,
whose interactions carry each member's locale and the server's."""

from __future__ import annotations

import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord
from bot.fakes.discord.testing import reply_to
from tests.helpers.waits import eventually


def _video_command(fake_discord: FakeDiscord) -> dict[str, object]:
    commands = fake_discord.state.commands.scope(fake_discord.default.guild.id)
    return commands["video"]


async def test_synced_commands_carry_their_french_and_german_names(
    fake_discord: FakeDiscord, kling_bot: KlingBot
) -> None:
    video = _video_command(fake_discord)
    assert video["name_localizations"]["fr"] == "vidéo"
    assert video["name_localizations"]["de"] == "video"
    assert video["description_localizations"]["fr"] == "Créer une courte vidéo avec Kling Omni"
    assert video["description_localizations"]["de"] == "Ein kurzes Video mit Kling Omni erstellen"
    options = {option["name"]: option for option in video["options"]}  # type: ignore[attr-defined]
    assert options["duration"]["name_localizations"]["fr"] == "durée"
    assert options["duration"]["name_localizations"]["de"] == "dauer"
    modes = {choice["name"]: choice for choice in options["video_use"]["choices"]}
    assert modes["reference"]["name_localizations"]["fr"] == "reference (référence)"
    # English is the default: no localization stands in for it.
    assert "en-US" not in video["name_localizations"]
    quota = fake_discord.state.commands.scope(fake_discord.default.guild.id)["quota"]
    assert quota["name_localizations"]["de"] == "kontingent"


async def test_a_french_member_is_refused_in_french_and_an_english_one_in_english(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_discord.default.alice.locale = "fr"
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="un bateau", duration=7)
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral
    assert answer.content == (
        "`durée` 7 n'est pas autorisée pour le texte vers vidéo avec kling-video-o1 : "
        "utilisez 5 ou 10."
    )

    bob = fake_discord.member(fake_discord.default.bob)  # en-US, as a Discord client is by default
    itx = await bob.run("video", prompt="a boat", duration=7)
    [answer] = await itx.wait_response()
    assert answer.content == (
        "`duration` 7 is not allowed for text-to-video on kling-video-o1: use 5 or 10."
    )
    assert fake_comet.creates() == []


async def test_a_german_members_status_answer_and_the_servers_language_for_the_result(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    fake_discord.default.alice.locale = "de"
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("video", prompt="ein Papierboot im Regen")
    await itx.wait_ack()
    status = itx.original
    assert status is not None and status.embeds
    names = [field["name"] for field in status.embeds[0]["fields"]]
    assert names[:3] == ["Status", "Angefordert von", "Modell"]  # the member's own language
    assert [c["label"] for row in status.components for c in row["components"]] == ["Abbrechen"]
    # Later posts in the channel are in the server's language (English here, the default).
    result = await reply_to(fake_discord, status.id)
    assert "your video is ready! 🎬 Task #" in result.content


@pytest.fixture
def french_server(fake_discord: FakeDiscord) -> None:
    """The server's preferred language is French (set before the bot logs in)."""
    fake_discord.default.guild.locale = "fr"


async def test_the_result_is_posted_in_the_servers_language(
    fake_discord: FakeDiscord, french_server: None, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    bob = fake_discord.member(fake_discord.default.bob)  # an en-US member
    itx = await bob.run("video", prompt="a paper boat in the rain")
    await itx.wait_ack()
    status = itx.original
    assert status is not None
    assert status.embeds[0]["fields"][0]["name"] == "Status"  # his own answer: English
    result = await reply_to(fake_discord, status.id)
    assert "votre vidéo est prête" in result.content and "🎬 Tâche #" in result.content
    # The status message, edited later for the channel, speaks the server's language too.
    await eventually(lambda: _status_field(fake_discord, status.id).startswith("Terminé ✅"))


def _status_field(fake_discord: FakeDiscord, message_id: int) -> str:
    fields = fake_discord.message(message_id).embeds[0]["fields"]
    return str(next(f["value"] for f in fields if f["name"] == "État"))

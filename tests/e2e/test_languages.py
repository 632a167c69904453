"""Members read the bot in their own Discord language: the real bot against the fake Discord,
whose interactions carry each member's locale and the server's."""

from __future__ import annotations

import shutil

import pytest

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member
from bot.fakes.discord.member import Attachment
from bot.fakes.discord.testing import private_text, reply_to, result_of
from bot.settings import Settings
from tests.helpers.images import png
from tests.helpers.waits import eventually, task_reaches


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


def _french(fake_discord: FakeDiscord) -> Member:
    """alice, whose Discord client is in French."""
    fake_discord.default.alice.locale = "fr"
    return fake_discord.default.alice


async def _private_embed(fake_discord: FakeDiscord, who: Member, *path: str) -> str:
    """A command's private embed, as one text: title, description, fields and footer."""
    [answer] = await (await fake_discord.member(who).run(*path)).wait_response()
    assert answer.is_ephemeral
    [embed] = answer.embeds
    fields = [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join([embed["title"], embed["description"], *fields, embed["footer"]["text"]])


async def test_a_french_members_quota_comes_back_in_french(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = _french(fake_discord)
    await (await fake_discord.member(alice).run("video", prompt="un bateau")).wait_ack()
    text = await _private_embed(fake_discord, alice, "quota", "show")
    assert text.startswith("📊 Votre quota\n")
    assert "Vous avez utilisé **1 sur 5 crédits** aujourd'hui : **4 restants**." in text
    assert "Limite: 5 crédits par jour" in text
    assert "Défini par: le réglage par défaut du bot" in text
    assert "Période: Quotidienne ; se réinitialise <t:" in text
    assert text.endswith("Les vidéos qui échouent rendent leurs crédits.")
    # bob's client is in English: the same command answers him in English.
    english = await _private_embed(fake_discord, fake_discord.default.bob, "quota", "show")
    assert "You have used **0 of 5 credits** today: **5 left**." in english


async def test_a_french_members_tasks_come_back_in_french(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = _french(fake_discord)
    empty = await _private_embed(fake_discord, alice, "tasks")
    assert empty.startswith("🎬 Vos tâches\n")
    assert "Vous n'avez encore aucune tâche sur ce serveur.\nFaites-en une avec `/vidéo`." in empty
    itx = await fake_discord.member(alice).run("video", prompt="un bateau en papier")
    await itx.wait_ack()
    assert itx.original is not None
    await reply_to(fake_discord, itx.original.id)
    [task] = await kling_bot.services.store.list_tasks()
    await task_reaches(kling_bot.services.store, task.id, TaskState.DELIVERED)
    listed = await _private_embed(fake_discord, alice, "tasks")
    assert "Vos dernières tâches, des plus récentes aux plus anciennes :" in listed
    assert "✅ Livrée · un bateau en papier · <t:" in listed and "[vidéo](https://" in listed
    assert listed.endswith("/tâche id:<numéro> montre une tâche en entier")


async def test_a_french_members_image_refusal_names_the_option_as_their_discord_does(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(_french(fake_discord))
    itx = await alice.run(
        "video", prompt="une petite image", first_frame=Attachment("petite.png", png(100, 100))
    )
    assert await private_text(itx) == (
        "`première_image` fait 100×100 px ; les images doivent avoir au moins 300 px de chaque "
        "côté."
    )
    assert await kling_bot.services.store.list_tasks() == []
    assert fake_comet.creates() == []


async def test_a_refused_rerun_by_reaction_is_explained_in_the_servers_language(
    fake_discord: FakeDiscord,
    french_server: None,
    fake_comet: FakeCometAPI,
    kling_bot: KlingBot,
    bot_settings: Settings,
) -> None:
    bob = fake_discord.member(fake_discord.default.bob)  # an en-US member: a reaction has no locale
    itx = await bob.run(
        "video", prompt="<<<image_1>>> sails", image_1=Attachment("a.png", png(400, 400))
    )
    await itx.wait_ack()
    assert itx.original is not None
    result = await result_of(fake_discord, itx.original.id)
    [task] = await kling_bot.services.store.list_tasks()
    shutil.rmtree(bot_settings.storage.media_dir / "inputs" / str(task.id))  # as retention does
    await bob.react(result.id, "🔁")
    notice = await reply_to(fake_discord, result.id)
    assert f"La tâche #{task.id} ne peut pas être refaite" in notice.content
    assert "`image_1` a été supprimée" in notice.content


@pytest.mark.parametrize("bot_config", [{"quotas": {"default_limit": 1}}])
async def test_a_french_member_over_their_quota_is_refused_in_french(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = _french(fake_discord)
    await (await fake_discord.member(alice).run("video", prompt="un bateau")).wait_ack()
    itx = await fake_discord.member(alice).run("video", prompt="un autre bateau")
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral
    assert (
        "Cette vidéo coûte 1 crédit et il vous en reste 0 : vous avez utilisé 1 de vos "
        "1 crédit aujourd'hui. Votre quota se renouvelle <t:"
    ) in answer.content
    assert len(await kling_bot.services.store.list_tasks()) == 1  # nothing stored, nothing charged

"""`/element` and the `elements` option through the real bot on the fake Discord: moderators
name elements, everyone lists them, `/video` and `/storyboard` offer the names as the member
types and take names or IDs."""

from __future__ import annotations

import pytest

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member
from bot.fakes.discord.testing import private_text
from tests.helpers.waits import eventually

MODERATORS = {"quotas": {"moderator_roles": ["Moderators"], "max_in_flight_per_member": 5}}


async def said(fake: FakeDiscord, who: Member, *path: str, **options: object) -> str:
    return await private_text(await fake.member(who).run("element", *path, **options))


@pytest.mark.parametrize("bot_config", [MODERATORS])
async def test_moderators_name_elements_and_members_use_the_names(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    mod, alice = world.moderator, world.alice
    assert (await said(fake_discord, alice, "add", id="123456", name="Mascot")).startswith(
        "Only moderators can add elements"
    )
    assert "Added **Mascot** (`123456`)" in await said(
        fake_discord, mod, "add", id="123456", name="Mascot"
    )
    await said(fake_discord, mod, "add", id="654321", name="Castle")
    assert "already has an element called 'MASCOT'" in await said(
        fake_discord, mod, "add", id="1", name="MASCOT"
    )
    assert "only digits" in await said(fake_discord, mod, "add", id="1", name="42")
    assert "is not one" in await said(fake_discord, mod, "add", id="12ab", name="Tree")

    [listing] = await (await fake_discord.member(alice).run("element", "list")).wait_response()
    lines = listing.embeds[0]["description"].splitlines()
    assert lines == [
        f"**Castle** — `654321` (added by <@{mod.id}>)",
        f"**Mascot** — `123456` (added by <@{mod.id}>)",
    ]

    member = fake_discord.member(alice)
    typing = await member.autocomplete("video", focused="elements", prompt="x", elements="ma")
    await typing.wait_ack()
    assert typing.choices == [{"name": "Mascot", "value": "Mascot"}]
    typing = await member.autocomplete("video", focused="elements", prompt="x", elements="mascot, ")
    await typing.wait_ack()
    assert typing.choices == [{"name": "mascot, Castle", "value": "mascot, Castle"}]
    typing = await member.autocomplete("storyboard", focused="elements", elements="c")
    await typing.wait_ack()
    assert [c["value"] for c in typing.choices or []] == ["Castle", "Mascot"]  # starts, contains

    made = await member.run("video", prompt="<<<element_1>>> waves", elements="mascot, 789")
    await made.wait_ack()
    await eventually(lambda: bool(fake_comet.accepted_creates()))
    [create] = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    assert [e["element_id"] for e in create.body["element_list"]] == [123456, 789]

    refused = await member.run("video", prompt="a dragon", elements="dragon")
    assert "'dragon' is neither" in await private_text(refused)
    assert "Removed **Mascot**" in await said(fake_discord, mod, "remove", name="mascot")
    refused = await member.run("video", prompt="a dragon", elements="Mascot")
    assert "'Mascot' is neither" in await private_text(refused)
    assert len(await kling_bot.services.store.list_tasks()) == 1  # refusals charge nothing

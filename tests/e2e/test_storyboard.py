"""/storyboard end to end: the shots reach the API as a customize multi-shot request."""

from __future__ import annotations

import asyncio

from bot.discord.client import KlingBot
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord

SETTLE_S = 30  # a guard against hangs, not a speed assertion


async def test_a_storyboard_is_made_from_the_members_shots(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "storyboard", shots="2: a dog stands by the sea | 3: the dog runs along the beach"
    )
    ack = await itx.wait_ack()
    assert not ack.ephemeral
    assert itx.original is not None and itx.original.embeds

    async def delivered() -> None:
        while not any(
            m.reference_id == itx.original.id  # type: ignore[union-attr]
            for m in fake_discord.channel_messages(fake_discord.default.general)
        ):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(delivered(), SETTLE_S)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    assert create.body["model_name"] == "kling-v3-omni"
    assert (create.body["multi_shot"], create.body["shot_type"], create.body["duration"]) == (
        True,
        "customize",
        "5",
    )
    assert [(p["duration"], p["prompt"]) for p in create.body["multi_prompt"]] == [
        ("2", "a dog stands by the sea"),
        ("3", "the dog runs along the beach"),
    ]


async def test_shots_and_a_prompt_together_are_refused_privately(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "storyboard", shots="2: a | 3: b", prompt="a day at the beach"
    )
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral and "not both" in answer.content
    assert fake_comet.creates() == []


async def test_shots_of_invisible_characters_are_refused_privately(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    itx = await fake_discord.member(fake_discord.default.alice).run(
        "storyboard", shots="2: a dog by the sea | 3: \u200b\u200b\ufeff"
    )
    [answer] = await itx.wait_response()
    assert answer.is_ephemeral and "Shot 2 has no description" in answer.content
    assert fake_comet.creates() == []
    assert await kling_bot.services.store.list_tasks() == []


async def test_without_shots_or_a_prompt_a_form_asks_for_the_shots_one_a_line(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("storyboard", mode="pro", aspect_ratio="9:16")
    assert (await itx.wait_ack()).type == 9
    [(field_id, prefilled)] = itx.modal_fields().items()
    assert prefilled is None
    submitted = await itx.submit_modal({field_id: "2: a dog by the sea\n\n3: it runs away\n"})
    [status] = await submitted.wait_response()
    assert not status.is_ephemeral
    await asyncio.wait_for(_created(fake_comet), SETTLE_S)
    (create,) = fake_comet.accepted_creates()
    assert isinstance(create.body, dict)
    assert (create.body["mode"], create.body["aspect_ratio"], create.body["duration"]) == (
        "pro",
        "9:16",
        "5",
    )
    assert [(p["duration"], p["prompt"]) for p in create.body["multi_prompt"]] == [
        ("2", "a dog by the sea"),
        ("3", "it runs away"),
    ]


async def test_the_form_is_checked_like_the_shots_option(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    itx = await alice.run("storyboard")
    await itx.wait_ack()
    [field_id] = itx.modal_fields()
    submitted = await itx.submit_modal({field_id: "a dog by the sea"})
    [answer] = await submitted.wait_response()
    assert answer.is_ephemeral and "needs its length first" in answer.content
    assert fake_comet.creates() == []
    assert await kling_bot.services.store.list_tasks() == []


async def _created(comet: FakeCometAPI) -> None:
    while not comet.accepted_creates():
        await asyncio.sleep(0.02)

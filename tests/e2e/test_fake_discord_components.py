"""Message components against the fake Discord: buttons as Discord validates and delivers them,
clicked by members, answered by the real discord.py client in every way Discord allows (a new
message, a deferred or direct edit of the clicked message, a modal), and persistent buttons
(`DynamicItem`) that still work after the client restarted."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from bot.fakes.discord import DriverError, FakeDiscord
from bot.fakes.discord.testing import running_client

SETTLE_S = 10  # a guard against hangs, not a speed assertion


class ClickBot(discord.Client):
    """A bare client whose test posts messages with views and watches what clicks do."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05)
        self.seen: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Counter)


class Counter(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"count:(?P<n>[0-9]+)"):
    """A persistent button: its state (a count) lives in its custom_id."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"{n}", custom_id=f"count:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> Counter:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        assert isinstance(interaction.client, ClickBot)
        interaction.client.seen.put_nowait(interaction)
        view = discord.ui.View(timeout=None)
        view.add_item(Counter(self.n + 1))
        await interaction.response.edit_message(content=f"clicked {self.n + 1}", view=view)


class Reasons(discord.ui.Modal, title="Why?"):
    why: discord.ui.TextInput[Reasons] = discord.ui.TextInput(
        label="Why", custom_id="why", default="no reason"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await interaction.response.edit_message(content=f"because {self.why.value}", view=None)


class Panel(discord.ui.View):
    """One button per way of answering a click."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="reply", custom_id="panel:reply")
    async def reply(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.send_message("only you see this", ephemeral=True)

    @discord.ui.button(label="later", custom_id="panel:later")
    async def later(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()  # type 6: no "thinking", the message is edited later
        await interaction.edit_original_response(content="edited later")

    @discord.ui.button(label="ask", custom_id="panel:ask")
    async def ask(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(Reasons())

    @discord.ui.button(label="off", custom_id="panel:off", disabled=True)
    async def off(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        raise AssertionError("a disabled button can't be clicked")


@pytest.fixture
async def client(fake_discord: FakeDiscord) -> AsyncIterator[ClickBot]:
    async with running_client(fake_discord, ClickBot()) as ready:
        assert isinstance(ready, ClickBot)
        yield ready


def channel_of(client: discord.Client, fake: FakeDiscord) -> discord.TextChannel:
    channel = client.get_channel(fake.default.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_each_answer_to_a_click_is_what_discord_allows(
    client: ClickBot, fake_discord: FakeDiscord
) -> None:
    sent = await channel_of(client, fake_discord).send("panel", view=Panel())
    message = fake_discord.message(sent.id)
    assert [
        b["custom_id"] for b in fake_discord.member(fake_discord.default.alice).buttons(sent.id)
    ] == [
        "panel:reply",
        "panel:later",
        "panel:ask",
        "panel:off",
    ]
    alice = fake_discord.member(fake_discord.default.alice)

    replied = await alice.click(sent.id, "panel:reply")
    [answer] = await replied.wait_response()
    assert (answer.content, answer.is_ephemeral) == ("only you see this", True)
    assert replied.record.payload["message"]["id"] == str(sent.id)
    assert replied.record.payload["data"] == {"custom_id": "panel:reply", "component_type": 2}

    later = await alice.click(sent.id, "panel:later")
    assert (await later.wait_ack()).type == 6
    await later.wait_until(lambda r: message.content == "edited later")
    assert [v.content for v in message.history] == ["panel"]

    asked = await alice.click(sent.id, "panel:ask")
    assert (await asked.wait_ack()).type == 9
    assert asked.modal_value("why") == "no reason"  # prefilled by the bot
    submitted = await asked.submit_modal({"why": "it rains"})
    assert submitted.record.payload["message"]["id"] == str(sent.id)
    assert (await submitted.wait_ack()).type == 7  # a modal from a button may edit its message
    assert message.content == "because it rains" and message.components == []

    with pytest.raises(DriverError, match="no button"):
        await alice.click(sent.id, "panel:reply")  # the edit took the buttons away


async def test_a_disabled_button_or_someone_elses_private_message_cant_be_clicked(
    client: ClickBot, fake_discord: FakeDiscord
) -> None:
    sent = await channel_of(client, fake_discord).send("panel", view=Panel())
    alice = fake_discord.member(fake_discord.default.alice)
    with pytest.raises(DriverError, match="disabled"):
        await alice.click(sent.id, "panel:off")
    replied = await alice.click(sent.id, "panel:reply")
    [private] = await replied.wait_response()
    private.components = [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "x", "custom_id": "x"}]}
    ]
    await alice.click(private.id, "x")  # her own private answer: fine
    with pytest.raises(DriverError, match="someone else's"):
        await fake_discord.member(fake_discord.default.bob).click(private.id, "x")


async def test_a_persistent_button_works_after_the_client_restarted(
    fake_discord: FakeDiscord,
) -> None:
    async with running_client(fake_discord, ClickBot()) as first:
        view = discord.ui.View(timeout=None)
        view.add_item(Counter(1))
        sent = await channel_of(first, fake_discord).send("count", view=view)
    async with running_client(fake_discord, ClickBot()) as second:
        assert isinstance(second, ClickBot)
        clicked = await fake_discord.member(fake_discord.default.bob).click(sent.id, "count:1")
        assert (await clicked.wait_ack()).type == 7
        interaction = await asyncio.wait_for(second.seen.get(), SETTLE_S)
        assert interaction.message is not None and interaction.message.id == sent.id
    message = fake_discord.message(sent.id)
    assert message.content == "clicked 2"
    assert message.components[0]["components"][0]["custom_id"] == "count:2"


async def test_a_click_takes_only_the_answers_discord_allows_for_clicks(
    client: ClickBot, fake_discord: FakeDiscord
) -> None:
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    async with aiohttp.ClientSession(fake_discord.base_url, headers=headers) as http:
        channel = f"/api/v10/channels/{fake_discord.default.general.id}/messages"
        body = {"content": "raw", "components": [row(button("raw"))]}  # no view handles it
        async with http.post(channel, json=body) as response:
            sent = await response.json()
        alice = fake_discord.member(fake_discord.default.alice)
        clicked = await alice.click(int(sent["id"]), "raw")
        url = f"/api/v10/interactions/{clicked.id}/{clicked.record.token}/callback?with_response=1"
        async with http.post(url, json={"type": 8, "data": {"choices": []}}) as response:
            assert (response.status, (await response.json())["code"]) == (400, 50035)
        update = {"type": 7, "data": {"content": "updated", "components": []}}
        async with http.post(url, json=update) as response:
            answer = await response.json()
        assert answer["resource"]["message"]["content"] == "updated"
        assert fake_discord.message(int(sent["id"])).content == "updated"


def row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


def button(custom_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "b", "custom_id": custom_id, **extra}


@pytest.mark.parametrize(
    ("components", "field", "code"),
    [
        ([row(button("x" * 101))], ["0", "components", "0", "custom_id"], "BASE_TYPE_BAD_LENGTH"),
        ([row(button(""))], ["0", "components", "0", "custom_id"], "BASE_TYPE_BAD_LENGTH"),
        ([row(*(button(f"b{i}") for i in range(6)))], ["0", "components"], "BASE_TYPE_BAD_LENGTH"),
        ([row(button(f"r{i}")) for i in range(6)], [], "BASE_TYPE_MAX_LENGTH"),
        (
            [row(button("same")), row(button("same"))],
            ["1", "components", "0", "custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            [row({"type": 2, "style": 5, "label": "l", "url": "https://x", "custom_id": "l"})],
            ["0", "components", "0", "custom_id"],
            "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
        ),
        (
            [row({"type": 2, "style": 1, "custom_id": "bare"})],
            ["0", "components", "0"],
            "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED",
        ),
        ([button("not-in-a-row")], ["0", "type"], "UI_COMPONENT_INVALID"),
        ([row()], ["0", "components"], "BASE_TYPE_BAD_LENGTH"),
    ],
)
async def test_components_are_validated_like_discord(
    client: ClickBot,
    fake_discord: FakeDiscord,
    components: list[dict[str, Any]],
    field: list[str],
    code: str,
) -> None:
    url = f"/api/v10/channels/{fake_discord.default.general.id}/messages"
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    body = {"content": "x", "components": components}
    async with (
        aiohttp.ClientSession(fake_discord.base_url, headers=headers) as http,
        http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r,
    ):
        error = await r.json()
    assert (r.status, error["code"]) == (400, 50035)
    detail: Any = error["errors"]["components"]
    for key in field:
        detail = detail[key]
    assert detail["_errors"][0]["code"] == code


async def test_control_endpoints_click_and_submit_modals(
    client: ClickBot, fake_discord: FakeDiscord
) -> None:
    sent = await channel_of(client, fake_discord).send("panel", view=Panel())
    alice = str(fake_discord.default.alice.id)
    async with aiohttp.ClientSession(fake_discord.base_url) as http:
        click = {"user_id": alice, "message_id": str(sent.id), "custom_id": "panel:ask"}
        async with http.post("/_fake/click", json=click) as response:
            started = await response.json()
        wait = f"/_fake/interactions/{started['interaction_id']}/wait?for=ack"
        async with http.post(wait) as response:
            assert (await response.json())["modal"]["title"] == "Why?"
        submit = f"/_fake/interactions/{started['interaction_id']}/modal"
        async with http.post(submit, json={"values": {"why": "tests"}}) as response:
            submitted = await response.json()
        wait = f"/_fake/interactions/{submitted['interaction_id']}/wait?for=ack"
        async with http.post(wait) as response:
            assert (await response.json())["ack"]["type"] == 7
        async with http.post("/_fake/click", json={**click, "custom_id": "nope"}) as response:
            assert response.status == 400
    assert fake_discord.message(sent.id).content == "because tests"

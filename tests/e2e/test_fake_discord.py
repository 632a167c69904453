"""The real discord.py client against FakeDiscord: login, interactions, REST rules, gateway."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.fakes.discord import Attachment, DriverError, FakeDiscord, Perm
from bot.fakes.discord.testing import assert_pings, discord_py_pointed_at, running_client

Handler = Callable[..., Awaitable[Any]]
MiB = 1024 * 1024


class ProbeBot(commands.Bot):
    """A tiny bot whose command bodies each test supplies through ``handlers``."""

    def __init__(self, guild_id: int, *, guild_messages: bool = False) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        intents.guild_messages = guild_messages
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.guild_id = guild_id
        self.handlers: dict[str, Handler] = {}
        self.outcomes: asyncio.Queue[Any] = asyncio.Queue()
        self.reactions: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()
        self.resumed = asyncio.Event()
        self.message_events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def setup_hook(self) -> None:
        guild = discord.Object(id=self.guild_id)
        self.tree.add_command(render, guild=guild)
        self.tree.add_command(say, guild=guild)
        self.tree.add_command(quota, guild=guild)
        self.tree.add_command(ping)
        await self.tree.sync(guild=guild)
        await self.tree.sync()

    async def run_handler(self, name: str, itx: discord.Interaction, **options: Any) -> None:
        """Call the test's handler; whatever it returns or raises goes to ``outcomes``."""
        try:
            result = await self.handlers[name](itx, **options)
        except Exception as exc:
            await self.outcomes.put(exc)
        else:
            await self.outcomes.put(result)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.reactions.put(payload)

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.message_events.put(("create", message))

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self.message_events.put(("edit", payload))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self.message_events.put(("delete", payload))


def probe(itx: discord.Interaction) -> ProbeBot:
    assert isinstance(itx.client, ProbeBot)
    return itx.client


@app_commands.command(description="Global health check")
async def ping(itx: discord.Interaction) -> None:
    await probe(itx).run_handler("ping", itx)


@app_commands.command(description="Render a clip")
async def render(
    itx: discord.Interaction,
    prompt: str,
    clip: discord.Attachment,
    duration: app_commands.Range[int, 3, 15] = 5,
    mode: Literal["std", "pro"] = "std",
    sound: bool = False,
) -> None:
    await probe(itx).run_handler(
        "render", itx, prompt=prompt, clip=clip, duration=duration, mode=mode, sound=sound
    )


@app_commands.command(description="Say something")
async def say(itx: discord.Interaction, text: str, private: bool = False) -> None:
    await probe(itx).run_handler("say", itx, text=text, private=private)


quota = app_commands.Group(name="quota", description="Quotas")


@quota.command(name="set", description="Set a limit")
async def quota_set(
    itx: discord.Interaction, target: discord.Member | discord.Role, limit: int
) -> None:
    await probe(itx).run_handler("quota set", itx, target=target, limit=limit)


@quota.command(name="show", description="Show a quota")
async def quota_show(itx: discord.Interaction, member: discord.Member | None = None) -> None:
    await probe(itx).run_handler("quota show", itx, member=member)


@pytest.fixture
def discord_client_factory() -> Callable[[FakeDiscord], discord.Client]:
    return lambda fake: ProbeBot(fake.default.guild.id)


@pytest.fixture
def bot(discord_client: discord.Client) -> ProbeBot:
    assert isinstance(discord_client, ProbeBot)
    return discord_client


async def reply(itx: discord.Interaction, **_: Any) -> None:
    await itx.response.send_message("ok")


def general(bot: ProbeBot, fake: FakeDiscord) -> discord.TextChannel:
    channel = bot.get_channel(fake.default.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# -- login, sync, gateway handshake -----------------------------------------------------------


async def test_login_syncs_commands_and_reports_intents(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    assert bot.user is not None and bot.user.id == fake_discord.bot_user.id
    guild = bot.get_guild(fake_discord.default.guild.id)
    assert guild is not None and guild.me is not None
    assert guild.filesize_limit == 10 * MiB
    assert set(fake_discord.registered_commands(fake_discord.default.guild)) == {
        "render",
        "say",
        "quota",
    }
    assert set(fake_discord.registered_commands()) == {"ping"}
    assert fake_discord.gateway.intents == 1025
    puts = fake_discord.requests("PUT")
    assert [r.status for r in puts] == [200, 200]
    assert all(r.auth.startswith("Bot ") and fake_discord.token not in r.auth for r in puts)


async def test_wrong_token_is_a_login_failure(fake_discord: FakeDiscord) -> None:
    client = ProbeBot(fake_discord.default.guild.id)
    with discord_py_pointed_at(fake_discord), pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert [r.status for r in fake_discord.requests()] == [401]


# -- slash commands ---------------------------------------------------------------------------


async def test_defer_then_followup_with_a_downloaded_attachment(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40

    async def handler(itx: discord.Interaction, clip: discord.Attachment, **opts: Any) -> Any:
        await itx.response.defer(thinking=True)
        data = await clip.read()
        await itx.followup.send(f"{clip.filename} {len(data)} {hashlib.sha256(data).hexdigest()}")
        return clip, opts

    bot.handlers["render"] = handler
    member = fake_discord.member(fake_discord.default.alice)
    itx = await member.run("render", prompt="a cat", clip=Attachment("in.mp4", video), duration=7)

    messages = await itx.wait_response()
    clip, opts = await bot.outcomes.get()
    ack = await itx.wait_ack()
    assert ack.type == 5 and ack.latency_s >= 0
    assert opts == {"prompt": "a cat", "duration": 7, "mode": "std", "sound": False}
    assert clip.content_type == "video/mp4" and clip.size == len(video)
    assert "ex=" in clip.url and "hm=" in clip.url
    # The first followup after a defer replaces the "thinking…" message.
    assert len(messages) == 1 and messages[0] is itx.original
    assert messages[0].content == f"in.mp4 {len(video)} {hashlib.sha256(video).hexdigest()}"
    assert not messages[0].is_loading and not messages[0].is_ephemeral
    assert messages[0].history == [] and messages[0].edited_at is None


async def test_send_message_ephemeral_is_only_seen_by_the_member(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    async def handler(itx: discord.Interaction, text: str, private: bool) -> None:
        await itx.response.send_message(text, ephemeral=private)

    bot.handlers["say"] = handler
    member = fake_discord.member(fake_discord.default.bob)
    public = await member.run("say", text="hello all")
    secret = await member.run("say", text="psst", private=True)
    [shown] = await public.wait_response()
    [hidden] = await secret.wait_response()
    assert (shown.content, shown.is_ephemeral) == ("hello all", False)
    assert (hidden.content, hidden.is_ephemeral) == ("psst", True)
    seen = [m.content for m in fake_discord.channel_messages(fake_discord.default.general)]
    assert seen == ["hello all"]


async def test_subcommands_with_user_and_role_options(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    bot.handlers["quota set"] = lambda itx, **o: reply_with(itx, o)
    bot.handlers["quota show"] = lambda itx, **o: reply_with(itx, o)
    world = fake_discord.default
    mod = fake_discord.member(world.moderator)

    await (await mod.run("quota", "set", target=world.moderators, limit=3)).wait_response()
    options = await bot.outcomes.get()
    assert isinstance(options["target"], discord.Role)
    assert (options["target"].id, options["limit"]) == (world.moderators.id, 3)

    await (await mod.run("quota", "set", target=world.alice, limit=0)).wait_response()
    options = await bot.outcomes.get()
    assert isinstance(options["target"], discord.Member)
    assert options["target"].id == world.alice.id

    await (await mod.run("quota", "show")).wait_response()
    assert (await bot.outcomes.get()) == {"member": None}


async def reply_with(itx: discord.Interaction, options: dict[str, Any]) -> dict[str, Any]:
    await itx.response.send_message("ok", ephemeral=True)
    return options


async def test_the_driver_refuses_what_discord_would_not_send(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    member = fake_discord.member(fake_discord.default.alice)
    clip = Attachment("a.png", b"png")
    with pytest.raises(DriverError, match="no option 'promt'"):
        await member.run("render", promt="typo", clip=clip)
    with pytest.raises(DriverError, match="not one of"):
        await member.run("render", prompt="x", clip=clip, mode="ultra")
    with pytest.raises(DriverError, match=r"outside 3\.\.15"):
        await member.run("render", prompt="x", clip=clip, duration=20)
    with pytest.raises(DriverError, match="expects int"):
        await member.run("render", prompt="x", clip=clip, duration="5")
    with pytest.raises(DriverError, match="required"):
        await member.run("render", prompt="x")
    with pytest.raises(DriverError, match="not registered"):
        await member.run("imagine", prompt="x")
    with pytest.raises(DriverError, match="pick a subcommand"):
        await member.run("quota")


async def test_global_command_has_no_guild_id(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    bot.handlers["ping"] = reply
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    [message] = await itx.wait_response()
    assert message.content == "ok"
    assert "guild_id" not in itx.record.payload["data"]
    assert itx.record.payload["attachment_size_limit"] == 10 * MiB


class Why(discord.ui.Modal, title="Tell me why"):
    why: discord.ui.TextInput[Why] = discord.ui.TextInput(label="Why", custom_id="why")

    def __init__(self, done: asyncio.Queue[Any]) -> None:
        super().__init__()
        self.done = done

    async def on_submit(self, itx: discord.Interaction) -> None:
        await itx.response.send_message(f"because {self.why.value}", ephemeral=True)
        await self.done.put(self.why.value)


async def test_a_modal_is_opened_and_submitted(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    submitted: asyncio.Queue[Any] = asyncio.Queue()

    async def ask(itx: discord.Interaction, **_: Any) -> None:
        await itx.response.send_modal(Why(submitted))

    bot.handlers["ping"] = ask
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    ack = await itx.wait_ack()
    assert ack.type == 9 and itx.modal is not None and itx.modal["title"] == "Tell me why"
    answer = await itx.submit_modal({"why": "it rains"})
    assert await asyncio.wait_for(submitted.get(), 5) == "it rains"
    [message] = await answer.wait_response()
    assert (message.content, message.is_ephemeral) == ("because it rains", True)


# -- Discord's strict rules -------------------------------------------------------------------


async def test_acknowledging_after_three_seconds_is_unknown_interaction(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    async def slow(itx: discord.Interaction, **_: Any) -> None:
        fake_discord.clock.advance(3.5)  # the handler "took" 3.5 s
        await itx.response.send_message("too late")

    bot.handlers["ping"] = slow
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    error = await bot.outcomes.get()
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert itx.ack is None and [e.code for e in itx.errors] == [10062]


async def test_a_second_acknowledgement_is_refused(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    async def twice(itx: discord.Interaction, **_: Any) -> None:
        await itx.response.defer()
        # A second responder (say, a stray listener) that doesn't share the response state.
        await discord.InteractionResponse(itx).send_message("again")

    bot.handlers["ping"] = twice
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    error = await bot.outcomes.get()
    assert isinstance(error, discord.HTTPException)
    assert (error.status, error.code) == (400, 40060)
    assert itx.ack is not None and itx.ack.type == 5


@pytest.mark.parametrize(("age_s", "expired"), [(14 * 60 + 59, False), (15 * 60 + 1, True)])
async def test_followups_after_fifteen_minutes_get_invalid_webhook_token(
    bot: ProbeBot, fake_discord: FakeDiscord, age_s: float, expired: bool
) -> None:
    async def deferred(itx: discord.Interaction, **_: Any) -> bool:
        await itx.response.defer()
        fake_discord.clock.advance(0.5)
        await itx.followup.send("done")
        return itx.is_expired()

    bot.handlers["ping"] = deferred
    itx = await fake_discord.member(fake_discord.default.alice).run("ping", backdate_s=age_s)
    outcome = await bot.outcomes.get()
    if expired:
        assert isinstance(outcome, discord.HTTPException)
        assert (outcome.status, outcome.code) == (401, 50027)
        assert itx.original is not None and itx.original.is_loading
    else:
        assert outcome is False
        assert [m.content for m in itx.messages] == ["done"]


async def test_uploads_over_the_boost_tier_limit_are_413(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    channel = general(bot, fake_discord)
    too_big = discord.File(io.BytesIO(b"\0" * (10 * MiB + 1)), "big.mp4")
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=too_big)
    assert (caught.value.status, caught.value.code) == (413, 40005)

    fake_discord.set_premium_tier(fake_discord.default.guild, 2)
    sent = await channel.send(file=discord.File(io.BytesIO(b"\1" * (10 * MiB + 1)), "big.mp4"))
    stored = fake_discord.message(sent.id).attachments[0]
    assert (stored.filename, stored.size_bytes, stored.content_type) == (
        "big.mp4",
        10 * MiB + 1,
        "video/mp4",
    )
    assert stored.sha256 == hashlib.sha256(b"\1" * (10 * MiB + 1)).hexdigest()


@pytest.mark.parametrize(
    ("denied", "kwargs", "code"),
    [
        (Perm.SEND_MESSAGES, {"content": "hi"}, 50013),
        (Perm.ATTACH_FILES, {"content": "hi", "file": "x.txt"}, 50013),
        (Perm.EMBED_LINKS, {"embed": discord.Embed(title="t")}, 50013),
        (Perm.VIEW_CHANNEL, {"content": "hi"}, 50001),
    ],
)
async def test_missing_permissions_are_403(
    bot: ProbeBot, fake_discord: FakeDiscord, denied: Perm, kwargs: dict[str, Any], code: int
) -> None:
    channel = general(bot, fake_discord)
    world = fake_discord.default
    for target in (world.everyone, world.bot_role):
        fake_discord.set_overwrite(world.general, target, deny=denied)
    if "file" in kwargs:
        kwargs["file"] = discord.File(io.BytesIO(b"x"), kwargs["file"])
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send(**kwargs)
    assert caught.value.code == code
    await asyncio.sleep(0)  # the CHANNEL_UPDATE reached the client's cache too
    if denied != Perm.VIEW_CHANNEL:
        assert not getattr(channel.permissions_for(channel.guild.me), str(denied.name).lower())


async def test_unknown_message_and_channel_are_404(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    channel = general(bot, fake_discord)
    with pytest.raises(discord.NotFound) as caught:
        await channel.fetch_message(1234)
    assert caught.value.code == 10008
    with pytest.raises(discord.NotFound) as caught:
        await channel.get_partial_message(1234).edit(content="x")
    assert caught.value.code == 10008
    with pytest.raises(discord.NotFound) as caught:
        await bot.fetch_channel(1234)
    assert caught.value.code == 10003


async def test_an_injected_429_is_retried(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    injection = fake_discord.inject_429("/channels/{channel_id}/messages", method="POST")
    sent = await general(bot, fake_discord).send("after a rate limit")
    assert fake_discord.message(sent.id).content == "after a rate limit"
    statuses = [r.status for r in fake_discord.requests("POST", "/channels/{channel_id}/messages")]
    assert statuses == [429, 200] and injection.remaining == 0


async def test_message_state_records_mentions_replies_and_edits(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    world = fake_discord.default
    channel = general(bot, fake_discord)
    first = await channel.send("status: queued")
    only_alice = discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(world.alice.id)], replied_user=False
    )
    text = f"{world.alice.mention} done, cc {world.bob.mention} @everyone"
    result = await channel.send(text, allowed_mentions=only_alice, reference=first)
    careless = await channel.send(text)
    await first.edit(content="status: done")

    recorded = fake_discord.message(result.id)
    assert recorded.allowed_mentions is not None and recorded.allowed_mentions["parse"] == []
    assert recorded.reference_id == first.id
    assert_pings(recorded, users={world.alice.id})
    assert_pings(
        fake_discord.message(careless.id), users={world.alice.id, world.bob.id}, everyone=True
    )
    edited = fake_discord.message(first.id)
    assert edited.content == "status: done"
    assert [v.content for v in edited.history] == ["status: queued"]

    fake_discord.set_overwrite(world.general, world.bot_role, deny=Perm.READ_MESSAGE_HISTORY)
    fake_discord.set_overwrite(world.general, world.everyone, deny=Perm.READ_MESSAGE_HISTORY)
    with pytest.raises(discord.Forbidden):
        await channel.send("reply", reference=first)


async def test_message_events_need_the_guild_messages_intent(fake_discord: FakeDiscord) -> None:
    client = ProbeBot(fake_discord.default.guild.id, guild_messages=True)
    client.handlers["ping"] = reply
    async with running_client(fake_discord, client):
        channel = general(client, fake_discord)
        sent = await channel.send("hello", embed=discord.Embed(title="t", description="d"))
        await sent.edit(content="hello again")
        await sent.delete()
        itx = await fake_discord.member(fake_discord.default.alice).run("ping")
        await itx.wait_response()
        events = [await asyncio.wait_for(client.message_events.get(), 5) for _ in range(4)]
        assert [kind for kind, _ in events] == ["create", "edit", "delete", "create"]
        assert events[0][1].embeds[0].title == "t"
        assert events[3][1].interaction_metadata.user.id == fake_discord.default.alice.id

        fake_discord.set_premium_tier(fake_discord.default.guild, 3)
        await asyncio.sleep(0.05)
        assert channel.guild.filesize_limit == 100 * MiB and channel.guild.me is not None
    assert fake_discord.gateway.intents == 1025 | 512


# -- reactions --------------------------------------------------------------------------------


async def test_member_reaction_reaches_on_raw_reaction_add(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    message = await general(bot, fake_discord).send("result")
    await fake_discord.member(fake_discord.default.alice).react(message.id, "🔁")
    event = await asyncio.wait_for(bot.reactions.get(), 5)
    assert (event.user_id, event.message_id, str(event.emoji)) == (
        fake_discord.default.alice.id,
        message.id,
        "🔁",
    )
    assert event.member is not None and event.member.id == fake_discord.default.alice.id
    assert event.message_author_id == bot.user.id  # type: ignore[union-attr]


async def test_the_bots_own_reaction_is_echoed_and_filterable(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    message = await general(bot, fake_discord).send("result")
    await message.add_reaction("🔁")
    event = await asyncio.wait_for(bot.reactions.get(), 5)
    assert event.user_id == bot.user.id  # type: ignore[union-attr]
    assert fake_discord.message(message.id).reactors("🔁") == [bot.user.id]  # type: ignore[union-attr]
    with pytest.raises(discord.HTTPException) as caught:
        await message.add_reaction("repeat")
    assert caught.value.code == 10014


# -- gateway resilience -----------------------------------------------------------------------


async def test_resume_replays_an_interaction_sent_while_disconnected(
    bot: ProbeBot, fake_discord: FakeDiscord
) -> None:
    bot.handlers["ping"] = reply
    await fake_discord.disconnect_gateway(resumable=True, hold=True)
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    assert itx.ack is None
    fake_discord.release_gateway()
    [message] = await itx.wait_response()
    assert message.content == "ok"
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert len(fake_discord.gateway.resumes) == 1 and len(fake_discord.gateway.identifies) == 1


async def test_reconnect_and_invalid_session(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    gateway = fake_discord.gateway
    await fake_discord.disconnect_gateway(how="reconnect")
    await gateway.wait_for(lambda: len(gateway.resumes) == 1 and gateway.is_connected)
    await fake_discord.disconnect_gateway(resumable=False)
    await gateway.wait_for(lambda: len(gateway.identifies) == 2 and gateway.is_connected)
    bot.handlers["ping"] = reply
    itx = await fake_discord.member(fake_discord.default.alice).run("ping")
    assert [m.content for m in await itx.wait_response()] == ["ok"]


async def test_expired_cdn_urls_are_gone(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    async def keep(itx: discord.Interaction, clip: discord.Attachment, **_: Any) -> Any:
        await itx.response.send_message("queued")
        return clip

    bot.handlers["render"] = keep
    member = fake_discord.member(fake_discord.default.alice)
    await member.run("render", prompt="x", clip=Attachment("a.png", b"\x89PNG"))
    clip = await bot.outcomes.get()
    assert await clip.read() == b"\x89PNG"
    fake_discord.clock.advance(2 * 24 * 3600)
    with pytest.raises(discord.NotFound):
        await clip.read()


# -- control surface --------------------------------------------------------------------------


async def test_control_endpoints_drive_a_command(bot: ProbeBot, fake_discord: FakeDiscord) -> None:
    bot.handlers["say"] = lambda itx, text, private: itx.response.send_message(text.upper())
    world = fake_discord.default
    async with aiohttp.ClientSession(fake_discord.base_url) as http:
        async with http.get("/_fake/state") as response:
            state = await response.json()
        assert state["connected"] and state["api_base"] == fake_discord.api_base
        body = {"user_id": str(world.bob.id), "command": "say", "options": {"text": "hi"}}
        async with http.post("/_fake/run", json=body) as response:
            started = await response.json()
        wait = f"/_fake/interactions/{started['interaction_id']}/wait?for=response"
        async with http.post(wait) as response:
            done = await response.json()
        assert done["messages"][0]["content"] == "HI"
        async with http.get(f"/_fake/channels/{world.general.id}/messages") as response:
            assert [m["content"] for m in await response.json()] == ["HI"]
        bad = {"user_id": str(world.bob.id), "command": "say", "options": {"txt": "hi"}}
        async with http.post("/_fake/run", json=bad) as response:
            assert response.status == 400

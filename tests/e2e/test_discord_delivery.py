"""Posting results and keeping status messages current, with the real discord.py client against
the fake Discord and a real SQLite store: what the channel shows, who gets pinged, what happens
on a repeat, a refusal or a burst of changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord.delivery import DiscordDeliverer
from bot.discord.status import FINAL_EDIT_TRIES, StatusUpdater
from bot.discord.translate import status_embed
from bot.domain.backoff import Backoff
from bot.domain.delivery import DeliveryError, ResultFile, delivery_nonce
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask, TaskRecord
from bot.domain.request import make_request
from bot.engine.task_engine import utc_now
from bot.fakes.discord import FakeDiscord, Message
from bot.fakes.discord.bodies import Body
from bot.fakes.discord.testing import assert_pings
from bot.features.render import status_view
from bot.features.render_result import is_result_text
from bot.store.sql_store import SqlStore

MiB = 1024 * 1024
SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "fakes" / "assets" / "sample_320x180_5s.mp4"
RESULT_URL = "https://cdn.kling.example/results/abc.mp4"
TIMEOUT_S = 5.0


class DeliveryClient(discord.Client):
    """The smallest client the adapters need: guilds + guild_reactions, nothing privileged."""

    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)


@pytest.fixture
def discord_client_factory() -> Callable[[FakeDiscord], discord.Client]:
    return lambda fake: DeliveryClient()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(tmp_path / "tasks.sqlite3")
    yield opened
    await opened.close()


def general(client: discord.Client, fake: FakeDiscord) -> discord.TextChannel:
    channel = client.get_channel(fake.default.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def eventually(check: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    """Wait until `check()` holds (the gateway echo of a change is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def new_task(
    store: SqlStore,
    fake: FakeDiscord,
    prompt: str = "a paper boat drifting down a rainy street",
) -> TaskRecord:
    return await store.create_task(
        NewTask(
            origin="discord",
            request=make_request({"prompt": prompt, "aspect_ratio": "16:9", "duration_s": 5}),
            cost=1,
            guild_id=fake.default.guild.id,
            channel_id=fake.default.general.id,
            user_id=fake.default.alice.id,
        ),
        now=utc_now(),
    )


async def move(store: SqlStore, task: TaskRecord, *states: TaskState, **fields: Any) -> TaskRecord:
    for state in states:
        task = await store.transition(task.id, state, now=utc_now(), expect=task.state, **fields)
    return task


async def post_status(
    client: discord.Client, fake: FakeDiscord, store: SqlStore, task: TaskRecord
) -> TaskRecord:
    """The status message a cog would post (through the channel, like any bot message)."""
    view = status_view(task, position=1, now=utc_now())
    message = await general(client, fake).send(
        embed=status_embed(view), allowed_mentions=discord.AllowedMentions.none()
    )
    await store.set_status_message(task.id, message.id)
    return await store.get_task(task.id)


async def delivering_task(
    client: discord.Client,
    fake: FakeDiscord,
    store: SqlStore,
    prompt: str = "a paper boat drifting down a rainy street",
) -> TaskRecord:
    """A task with a status message whose video is being delivered."""
    task = await post_status(client, fake, store, await new_task(store, fake, prompt))
    return await move(
        store,
        task,
        TaskState.SUBMITTING,
        TaskState.SUBMITTED,
        TaskState.SUCCEEDED,
        TaskState.DELIVERING,
        result_url=RESULT_URL,
    )


def sample_result() -> ResultFile:
    return ResultFile(RESULT_URL, SAMPLE, SAMPLE.stat().st_size)


def big_result(tmp_path: Path, size_bytes: int) -> ResultFile:
    """A file of `size_bytes` that takes no disk or memory: a sparse file."""
    path = tmp_path / "big.mp4"
    with path.open("wb") as handle:
        handle.truncate(size_bytes)
    return ResultFile(RESULT_URL, path, size_bytes)


def results_in(fake: FakeDiscord) -> list[Message]:
    return [m for m in fake.channel_messages(fake.default.general) if "video is ready" in m.content]


def status_field(message: Message) -> str:
    fields = message.embeds[0]["fields"]
    return str(next(f["value"] for f in fields if f["name"] == "Status"))


# -- delivery ---------------------------------------------------------------------------------


async def test_result_is_attached_replies_to_the_status_and_pings_only_the_requester(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    prompt = f"@everyone look <@&{fake.default.moderators.id}> a cat @here"
    task = await delivering_task(discord_client, fake, store, prompt)

    message_id = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    [posted] = results_in(fake)
    assert posted.id == message_id
    assert posted.author.id == fake.bot_user.id
    assert [(a.filename, a.size_bytes) for a in posted.attachments] == [
        (f"kling-{task.id}.mp4", SAMPLE.stat().st_size)
    ]
    assert posted.reference_id == task.status_message_id
    assert posted.content.startswith(f"<@{fake.default.alice.id}> your video is ready")
    assert prompt not in posted.content
    assert_pings(posted, users=[fake.default.alice.id])
    # Nothing is parsed from the text: an @everyone or a role in it could never ping.
    assert posted.allowed_mentions is not None and posted.allowed_mentions.get("parse") == []
    assert posted.reactors("🔁") == [fake.bot_user.id]
    linked = await store.task_for_message(posted.id, kind="result")
    assert linked is not None and linked.id == task.id
    # Bot token on the channel route; the interaction token plays no part.
    [post] = fake.requests("POST", "/channels/{channel_id}/messages")[-1:]
    assert post.auth.startswith("Bot ") and post.payload is not None
    assert post.payload["nonce"] == delivery_nonce(task.external_id)
    assert post.payload["enforce_nonce"] is True


async def test_too_large_for_the_tier_is_posted_as_a_link(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore, tmp_path: Path
) -> None:
    fake = fake_discord
    fake.set_premium_tier(fake.default.guild, 0)
    task = await delivering_task(discord_client, fake, store)
    result = big_result(tmp_path, 10 * MiB + 1)

    await DiscordDeliverer(discord_client, store).deliver(task, result)

    [posted] = results_in(fake)
    assert posted.attachments == []
    assert RESULT_URL in posted.content
    assert "It's 10,485,761 bytes, too large" in posted.content
    assert "upload limit is 10,485,760 bytes" in posted.content
    assert "expire" in posted.content
    assert posted.reference_id == task.status_message_id
    assert_pings(posted, users=[fake.default.alice.id])
    assert posted.reactors("🔁") == [fake.bot_user.id]


async def test_a_boosted_server_gets_the_big_file_attached(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore, tmp_path: Path
) -> None:
    fake = fake_discord
    fake.set_premium_tier(fake.default.guild, 2)
    guild = discord_client.get_guild(fake.default.guild.id)
    assert guild is not None
    await eventually(lambda: guild.filesize_limit == 50 * MiB)
    task = await delivering_task(discord_client, fake, store)

    await DiscordDeliverer(discord_client, store).deliver(task, big_result(tmp_path, 11 * MiB))

    [posted] = results_in(fake)
    assert [a.size_bytes for a in posted.attachments] == [11 * MiB]


async def test_a_refused_upload_is_retried_once_as_a_link(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    # Discord's real limit can be below discord.py's table (it lagged in 2025): 413 → link.
    fake = fake_discord
    fake.default.guild.upload_limit_bytes = 1024
    task = await delivering_task(discord_client, fake, store)

    await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    [posted] = results_in(fake)
    assert posted.attachments == [] and RESULT_URL in posted.content
    assert "Discord wouldn't take it as an attachment" in posted.content
    statuses = [r.status for r in fake.requests("POST", "/channels/{channel_id}/messages")]
    assert statuses[-2:] == [413, 200]


async def test_delivering_twice_posts_once(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    deliverer = DiscordDeliverer(discord_client, store)

    first = await deliverer.deliver(task, sample_result())
    again = await deliverer.deliver(task, sample_result())

    assert again == first
    assert [m.id for m in results_in(fake)] == [first]


async def test_a_rate_limited_post_is_retried_by_discord_py_and_posts_once(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    fake.inject_429("/channels/{channel_id}/messages", method="POST", retry_after_s=0.05)

    posted = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    assert [m.id for m in results_in(fake)] == [posted]
    statuses = [r.status for r in fake.requests("POST", "/channels/{channel_id}/messages")]
    assert statuses[-2:] == [429, 200]


async def test_a_restart_after_posting_finds_the_earlier_post(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    # The crash window: the post went out, but DELIVERED was never written. Another task's
    # result in the same channel must not be mistaken for this one.
    fake = fake_discord
    other = await delivering_task(discord_client, fake, store)
    task = await delivering_task(discord_client, fake, store)
    other_id = await DiscordDeliverer(discord_client, store).deliver(other, sample_result())
    first = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())
    fake.message(first).reactions.clear()  # as if the crash came before the reaction

    task = await store.get_task(task.id)
    assert task.state is TaskState.DELIVERING and task.delivery_message_id is None
    again = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    assert again == first != other_id
    assert len(results_in(fake)) == 2
    assert fake.message(first).reactors("🔁") == [fake.bot_user.id]


async def test_a_reset_database_never_takes_an_old_post_for_its_own(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore, tmp_path: Path
) -> None:
    # The database was reset: the new task #1 is not the old task #1, though both are "#1"
    # and the old one was posted a moment ago (its nonce is still remembered by Discord).
    fake = fake_discord
    old_task = await delivering_task(discord_client, fake, store)
    old_post = await DiscordDeliverer(discord_client, store).deliver(old_task, sample_result())
    fresh = await SqlStore.open(tmp_path / "reset.sqlite3")
    try:
        task = await delivering_task(discord_client, fake, fresh)
        assert task.id == old_task.id and task.external_id != old_task.external_id

        posted = await DiscordDeliverer(discord_client, fresh).deliver(task, sample_result())
    finally:
        await fresh.close()

    assert posted != old_post
    assert fake.message(posted).reference_id == task.status_message_id
    assert len(results_in(fake)) == 2


async def chatter(fake: FakeDiscord, count: int, *, other_task_id: int) -> None:
    """`count` messages in #general: members talking, and the bot posting others' results."""
    alice = fake.member(fake.default.alice)
    bot_says = Body(payload={"content": f"your video is ready! 🎬 Task #{other_task_id}"})
    for n in range(count):
        if n % 10 == 9:
            guild, channel = fake.default.guild, fake.default.general
            fake.state.post_message(guild, channel, fake.bot_user, bot_says)
        else:
            await alice.say(f"message {n}")


@pytest.mark.parametrize("between", [60, 500])
async def test_a_restart_finds_the_earlier_post_in_a_busy_channel(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore, between: int
) -> None:
    # Other members' messages and other results between the start of the delivery and its
    # post, and more after it; the nonce has expired by the time the bot comes back.
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    await chatter(fake, between, other_task_id=task.id + 1000)
    first = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())
    await chatter(fake, between, other_task_id=task.id + 1001)
    fake.state.nonce_window_s = 0.0

    task = await store.get_task(task.id)
    again = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    assert again == first
    mine = [m for m in results_in(fake) if f"Task #{task.id} " in m.content]
    assert [m.id for m in mine] == [first]
    pages = fake.requests("GET", "/channels/{channel_id}/messages")
    assert all("limit=100" in r.query for r in pages)  # Discord's largest page, never more


async def test_a_server_error_is_passing_and_a_deleted_channel_sends_it_in_private(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    deliverer = DiscordDeliverer(discord_client, store)

    # 503: discord.py gives up at once (it retries 500/502/504 itself, for ~25 s).
    fake.inject_error("/channels/{channel_id}/messages", method="POST", status=503)
    with pytest.raises(DeliveryError) as transient:
        await deliverer.deliver(task, sample_result())
    assert not transient.value.permanent

    fake.inject_error("/channels/{channel_id}/messages", method="POST", status=404, code=10003)
    assert await deliverer.deliver(task, sample_result()) is None  # not in the channel

    assert results_in(fake) == []
    [dm] = fake.dm_messages(fake.default.alice)
    assert dm.content.startswith(f"Posting in <#{fake.default.general.id}> failed (#general no")
    assert is_result_text(dm.content, task.id) and len(dm.attachments) == 1


async def test_a_deleted_channel_and_no_direct_messages_is_permanent(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    fake.close_dms(fake.default.alice)
    fake.inject_error("/channels/{channel_id}/messages", method="POST", status=404, code=10003)

    with pytest.raises(DeliveryError) as gone:
        await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    assert gone.value.permanent
    assert gone.value.reason == (
        "#general no longer exists, or the bot left the server, "
        "and the member takes no direct messages"
    )


async def test_a_deleted_status_message_does_not_stop_the_delivery(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await delivering_task(discord_client, fake, store)
    assert task.status_message_id is not None
    await general(discord_client, fake).get_partial_message(task.status_message_id).delete()

    await DiscordDeliverer(discord_client, store).deliver(task, sample_result())

    [posted] = results_in(fake)
    assert posted.reference_id is None and len(posted.attachments) == 1


# -- status messages ---------------------------------------------------------------------------


def positions_of(table: dict[int, int]) -> Callable[[], Awaitable[dict[int, int]]]:
    async def positions() -> dict[int, int]:
        return dict(table)

    return positions


async def test_a_burst_of_changes_makes_at_most_two_edits_ending_on_the_final_state(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=3.0)
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)

    changes = 0
    for state in (TaskState.SUBMITTING, TaskState.SUBMITTED, TaskState.PROCESSING):
        task = await move(store, task, state)
        await updater.task_changed(task)
        changes += 1
    for pct in (10, 40, 70, 90):
        await store.record_poll(task.id, now=utc_now(), progress_pct=pct)
        await updater.task_changed(await store.get_task(task.id))
        changes += 1
    for state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
        task = await move(store, task, state)
        await updater.task_changed(task)
        changes += 1
    posted = await DiscordDeliverer(discord_client, store).deliver(task, sample_result())
    task = await move(store, task, TaskState.DELIVERED, delivery_message_id=posted)
    await updater.task_changed(task)
    changes += 1

    await eventually(lambda: status_field(status).startswith("Done ✅"))
    stale = await store.get_task(task.id)
    await updater.task_changed(replace(stale, state=TaskState.PROCESSING))  # a late straggler
    await updater.close()

    assert changes == 10
    assert 1 <= len(status.history) <= 2
    assert status_field(status).startswith("Done ✅ — [jump to the video](")
    assert str(posted) in status_field(status)
    assert status.allowed_mentions == {"parse": []}
    assert status.pings().user_ids == frozenset()


async def test_edits_are_spaced_by_the_interval_and_show_the_latest_state(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=1.0)
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)

    task = await move(store, task, TaskState.SUBMITTING, TaskState.SUBMITTED)
    await updater.task_changed(task)
    await eventually(lambda: len(status.history) == 1)
    task = await move(store, task, TaskState.PROCESSING)
    await store.record_poll(task.id, now=utc_now(), progress_pct=55)
    await updater.task_changed(task)  # an older record than the store holds: the store wins
    await eventually(lambda: len(status.history) == 2)
    first_edit_at, second_edit_at = (version.at for version in status.history)
    # Held back for the interval, however late this test looks: a lower bound, never a limit.
    assert second_edit_at - first_edit_at >= 1.0 * 0.99
    assert status_field(status) == "Rendering… (55%)"
    await updater.close()


async def test_close_flushes_a_pending_edit_at_once(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=60.0)
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    task = await move(store, task, TaskState.SUBMITTING)
    await updater.task_changed(task)
    await eventually(lambda: len(status.history) == 1)
    task = await move(store, task, TaskState.SUBMITTED, TaskState.PROCESSING)
    await updater.task_changed(task)  # would wait a minute

    await asyncio.wait_for(updater.close(), TIMEOUT_S)

    assert len(status.history) == 2 and status_field(status) == "Rendering…"


async def test_queue_positions_and_failures_are_shown(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    first = await post_status(discord_client, fake, store, await new_task(store, fake))
    second = await post_status(discord_client, fake, store, await new_task(store, fake))
    line = {first.id: 1, second.id: 2}
    updater = StatusUpdater(discord_client, store, positions_of(line), min_interval_s=0.2)
    assert first.status_message_id and second.status_message_id
    first_status = fake.message(first.status_message_id)
    second_status = fake.message(second.status_message_id)

    await updater.task_changed(second)
    await eventually(lambda: status_field(second_status) == "Waiting in line — position 2")

    # The first task fails: the second moves up without a change of its own.
    del line[first.id]
    line[second.id] = 1
    first = await move(store, first, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(first)
    await eventually(
        lambda: (
            status_field(first_status) == "❌ Kling refused the prompt. Your credit was refunded."
        )
    )
    await eventually(lambda: status_field(second_status) == "Waiting in line — position 1")
    await updater.close()


async def test_an_answered_task_gets_no_edit_until_its_place_in_line_is_known(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await new_task(store, fake)
    view = status_view(task, position=None, now=utc_now())  # what the answer shows
    message = await general(discord_client, fake).send(embed=status_embed(view))
    updater = StatusUpdater(discord_client, store, positions_of({task.id: 3}), min_interval_s=60)
    updater.posted(task, message.id)
    await store.set_status_message(task.id, message.id)
    await updater.task_changed(await store.get_task(task.id))  # the answer's own state
    await updater.close()  # flushes every pending edit of a state; positions come by pass only
    assert fake.message(message.id).history == []
    assert fake.requests("PATCH", EDIT_ROUTE) == []

    updater = StatusUpdater(discord_client, store, positions_of({task.id: 3}), min_interval_s=0.2)
    updater.posted(task, message.id)
    await updater.task_changed(await store.get_task(task.id))
    await eventually(
        lambda: status_field(fake.message(message.id)) == "Waiting in line — position 3"
    )
    await updater.close()
    assert len(fake.requests("PATCH", EDIT_ROUTE)) == 1


async def test_a_deleted_status_message_is_dropped_quietly(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    await general(discord_client, fake).get_partial_message(task.status_message_id).delete()
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=0.1)

    task = await move(store, task, TaskState.SUBMITTING)
    await updater.task_changed(task)
    await updater.close()
    task = await move(store, task, TaskState.SUBMITTED)
    await updater.task_changed(task)  # after close: ignored, and never raises

    patches = fake.requests("PATCH", "/channels/{channel_id}/messages/{message_id}")
    assert [r.status for r in patches] == [404]


EDIT_ROUTE = "/channels/{channel_id}/messages/{message_id}"
FAILED_TEXT = "❌ Kling refused the prompt. Your credit was refunded."


async def test_a_final_state_is_shown_even_if_its_first_edit_fails_in_passing(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=0.1)
    fake.inject_error(EDIT_ROUTE, method="PATCH", status=503)  # Discord hiccups once

    task = await move(store, task, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(task)

    await eventually(lambda: status_field(status) == FAILED_TEXT)
    await updater.close()
    assert [r.status for r in fake.requests("PATCH", EDIT_ROUTE)] == [503, 200]


FAST_RETRIES = Backoff(initial_s=0.01, max_s=0.05)


async def test_a_final_state_that_keeps_failing_is_given_up_until_the_next_start(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    updater = StatusUpdater(
        discord_client, store, positions_of({}), min_interval_s=0.05, backoff=FAST_RETRIES
    )
    failing = fake.inject_error(EDIT_ROUTE, method="PATCH", status=503, times=100)

    task = await move(store, task, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(task)
    # The job ends: no retry loop forever. Its tries are paced within the channel's edit budget
    # (5 per 5 s), so they take a while.
    await eventually(lambda: not updater._jobs, timeout_s=60)
    await updater.close()
    assert len(fake.requests("PATCH", EDIT_ROUTE)) == FINAL_EDIT_TRIES
    assert await store.final_status_pending() == [task.id]

    failing.remaining = 0  # Discord is back; the bot starts again
    restarted = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=0.05)
    await restarted.resume()
    await eventually(lambda: status_field(status) == FAILED_TEXT)
    await restarted.close()
    assert await store.final_status_pending() == []


async def test_a_refused_edit_of_a_passing_state_does_not_freeze_the_status(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    # A moderator's overwrite refuses one edit; the final state must still be shown.
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    updater = StatusUpdater(discord_client, store, positions_of({}), min_interval_s=0.05)
    fake.inject_error(EDIT_ROUTE, method="PATCH", status=403, code=50013)

    task = await move(store, task, TaskState.SUBMITTING)
    await updater.task_changed(task)
    await eventually(lambda: len(fake.requests("PATCH", EDIT_ROUTE)) == 1)
    await eventually(lambda: not updater._jobs)
    task = await move(store, task, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(task)

    await eventually(lambda: status_field(status) == FAILED_TEXT)
    await updater.close()
    assert [r.status for r in fake.requests("PATCH", EDIT_ROUTE)] == [403, 200]


async def test_a_refused_final_state_is_tried_again_with_backoff(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    updater = StatusUpdater(
        discord_client, store, positions_of({}), min_interval_s=0.05, backoff=FAST_RETRIES
    )
    fake.inject_error(EDIT_ROUTE, method="PATCH", status=403, code=50001, times=3)

    task = await move(store, task, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(task)

    await eventually(lambda: status_field(status) == FAILED_TEXT)
    await updater.close()
    assert [r.status for r in fake.requests("PATCH", EDIT_ROUTE)] == [403, 403, 403, 200]
    assert await store.final_status_pending() == []


async def test_failed_edits_of_an_earlier_state_leave_the_final_state_its_own_tries(
    discord_client: discord.Client, fake_discord: FakeDiscord, store: SqlStore
) -> None:
    fake = fake_discord
    task = await post_status(discord_client, fake, store, await new_task(store, fake))
    assert task.status_message_id is not None
    status = fake.message(task.status_message_id)
    updater = StatusUpdater(
        discord_client, store, positions_of({}), min_interval_s=1.0, backoff=FAST_RETRIES
    )
    fake.inject_error(EDIT_ROUTE, method="PATCH", status=503, times=2)
    task = await move(store, task, TaskState.SUBMITTING)
    await updater.task_changed(task)
    await eventually(lambda: len(fake.requests("PATCH", EDIT_ROUTE)) == 2)  # both failed

    # The task ends while the second failure waits out the interval; Discord hiccups once more.
    fake.inject_error(EDIT_ROUTE, method="PATCH", status=503)
    task = await move(store, task, TaskState.REJECTED, failure_reason="Kling refused the prompt")
    await updater.task_changed(task)

    await eventually(lambda: status_field(status) == FAILED_TEXT)
    await updater.close()
    assert [r.status for r in fake.requests("PATCH", EDIT_ROUTE)] == [503, 503, 503, 200]

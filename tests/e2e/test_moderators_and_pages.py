"""`/quota moderators` (administrators name the roles that moderate the bot) and `/tasks` pages
with buttons, through the real bot on the fake Discord, the buttons also after a restart."""

from __future__ import annotations

from bot.discord.client import KlingBot
from bot.domain.lifecycle import TaskState
from bot.domain.records import NewTask
from bot.domain.request import OmniRequest
from bot.engine.task_engine import utc_now
from bot.fakes.comet import FakeCometAPI
from bot.fakes.discord import FakeDiscord, Member, Message, Perm
from bot.fakes.discord.testing import private_text
from bot.fakes.harness import running_bot
from bot.settings import Settings
from bot.store.sql_store import SqlStore


async def said(fake: FakeDiscord, who: Member, *path: str, **options: object) -> str:
    return await private_text(await fake.member(who).run("quota", *path, **options))


async def test_administrators_name_the_roles_that_moderate_the_bot(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, kling_bot: KlingBot
) -> None:
    world = fake_discord.default
    helpers = fake_discord.add_role("Helpers")
    admins = fake_discord.add_role("Admins", Perm.ADMINISTRATOR)
    carol = fake_discord.add_member("carol", roles=(helpers,))
    dave = fake_discord.add_member("dave", roles=(admins,))

    refused = await said(fake_discord, carol, "set", target=world.bob, limit=3)
    assert refused.startswith("Only moderators can set quotas")
    assert (
        await said(fake_discord, world.moderator, "moderators", "add", role=helpers)
    ).startswith("Only administrators can change who moderates the bot")
    added = await said(fake_discord, dave, "moderators", "add", role=helpers)
    assert added.splitlines()[:2] == [
        f"Updated: <@&{helpers.id}> is now a moderator role.",
        f"Moderator roles set here: <@&{helpers.id}>.",
    ]
    assert "now gets 3 credits a day" in await said(
        fake_discord, carol, "set", target=world.bob, limit=3
    )
    listed = await said(fake_discord, carol, "moderators", "list")
    assert f"Moderator roles set here: <@&{helpers.id}>." in listed
    again = await said(fake_discord, world.owner, "moderators", "add", role=helpers)
    assert again.startswith(f"Nothing changed for <@&{helpers.id}>.")
    removed = await said(fake_discord, world.owner, "moderators", "remove", role=helpers)
    assert removed.startswith(f"Updated: <@&{helpers.id}> is no longer a moderator role.")
    refused = await said(fake_discord, carol, "set", target=world.bob, limit=4)
    assert refused.startswith("Only moderators can set quotas")


def lines_of(message: Message) -> list[str]:
    return [line for line in message.embeds[0]["description"].splitlines() if line.startswith("`#")]


def buttons(message: Message) -> dict[str, tuple[str, bool]]:
    [row] = message.components
    return {b["label"]: (b["custom_id"], bool(b.get("disabled"))) for b in row["components"]}


async def test_tasks_pages_with_buttons_that_work_after_a_restart(
    fake_discord: FakeDiscord, fake_comet: FakeCometAPI, bot_settings: Settings
) -> None:
    alice = fake_discord.member(fake_discord.default.alice)
    store = await SqlStore.open(bot_settings.storage.database)
    try:
        ids = []
        for number in range(12):
            new = NewTask(
                "discord",
                OmniRequest(prompt=f"video {number}", aspect_ratio="16:9"),
                1,
                guild_id=fake_discord.default.guild.id,
                channel_id=fake_discord.default.general.id,
                user_id=alice.member.id,
            )
            task = await store.create_task(new, now=utc_now())
            await store.transition(task.id, TaskState.REJECTED, now=utc_now())
            ids.append(task.id)
    finally:
        await store.close()
    newest_first = ids[::-1]

    async with running_bot(fake_discord, bot_settings):
        [listing] = await (await alice.run("tasks")).wait_response()
        assert [line.split("`")[1] for line in lines_of(listing)] == [
            f"#{i}" for i in newest_first[:10]
        ]
        assert {k: v[1] for k, v in buttons(listing).items()} == {
            "◀ Newer": True,
            "Older ▶": False,
        }

    async with running_bot(fake_discord, bot_settings):
        older = await alice.click(listing, buttons(listing)["Older ▶"][0])
        assert (await older.wait_ack()).type == 7  # the same private message, edited
        assert [line.split("`")[1] for line in lines_of(listing)] == [
            f"#{i}" for i in newest_first[10:]
        ]
        assert listing.embeds[0]["description"].startswith("Your earlier tasks")
        assert {k: v[1] for k, v in buttons(listing).items()} == {
            "◀ Newer": False,
            "Older ▶": True,
        }
        newer = await alice.click(listing, buttons(listing)["◀ Newer"][0])
        await newer.wait_ack()
        assert [line.split("`")[1] for line in lines_of(listing)] == [
            f"#{i}" for i in newest_first[:10]
        ]

"""Shard rules: the fake Discord's routing and refusals, and how the bot names its shards."""

from __future__ import annotations

import pytest

from bot.discord.sharding import describe_shards, shard_options, shard_refusal
from bot.fakes.discord.shards import (
    CLOSE_INVALID_SHARD,
    CLOSE_SHARDING_REQUIRED,
    MALFORMED,
    UNSHARDED,
    Shard,
    event_guild_id,
    refusal,
    requested_shard,
    shard_of,
    snowflake_on_shard,
)
from bot.fakes.discord.snowflakes import Clock, SnowflakeMinter, snowflake_time
from bot.settings import DiscordSettings

# A real guild's ID (Discord API's server), made 19,403,645,698 ms after Discord's epoch.
DISCORD_API_GUILD = 81384788765712384


def test_a_guild_goes_to_the_shard_of_its_creation_millisecond() -> None:
    assert [shard_of(DISCORD_API_GUILD, n) for n in (1, 2, 3, 5)] == [0, 0, 1, 3]
    assert Shard(3, 5).serves(DISCORD_API_GUILD)
    assert not Shard(2, 5).serves(DISCORD_API_GUILD)


def test_direct_messages_go_to_shard_zero() -> None:
    assert Shard(0, 4).serves(None)
    assert not Shard(1, 4).serves(None)
    assert UNSHARDED.serves(None) and UNSHARDED.serves(DISCORD_API_GUILD)


@pytest.mark.parametrize(
    ("event", "data", "guild_id"),
    [
        ("GUILD_CREATE", {"id": "42", "name": "g"}, 42),
        ("GUILD_UPDATE", {"id": "42"}, 42),
        ("MESSAGE_CREATE", {"id": "7", "guild_id": "42"}, 42),
        ("MESSAGE_CREATE", {"id": "7", "channel_id": "9"}, None),  # a direct message
        ("INTERACTION_CREATE", {"id": "7", "guild_id": "42"}, 42),
        ("MESSAGE_REACTION_ADD", {"guild_id": "42", "message_id": "7"}, 42),
        ("MESSAGE_DELETE", {"id": "7", "guild_id": None}, None),
    ],
)
def test_the_guild_of_an_event(event: str, data: dict[str, object], guild_id: int | None) -> None:
    assert event_guild_id(event, data) == guild_id


@pytest.mark.parametrize(
    ("identify", "shard"),
    [
        ({}, UNSHARDED),
        ({"shard": [1, 4]}, Shard(1, 4)),
        ({"shard": [1]}, MALFORMED),
        ({"shard": ["1", "4"]}, MALFORMED),
        ({"shard": [True, 2]}, MALFORMED),
    ],
)
def test_the_shard_an_identify_asks_for(identify: dict[str, object], shard: Shard) -> None:
    assert requested_shard(identify) == shard


@pytest.mark.parametrize(
    ("shard", "live_counts", "required", "code"),
    [
        (Shard(0, 1), set(), 0, None),
        (Shard(1, 2), {2}, 0, None),
        (Shard(3, 4), set(), 4, None),
        (Shard(2, 2), set(), 0, CLOSE_INVALID_SHARD),
        (Shard(-1, 2), set(), 0, CLOSE_INVALID_SHARD),
        (Shard(0, 0), set(), 0, CLOSE_INVALID_SHARD),
        (MALFORMED, set(), 0, CLOSE_INVALID_SHARD),
        (Shard(1, 3), {2}, 0, CLOSE_INVALID_SHARD),
        (Shard(0, 1), set(), 2, CLOSE_SHARDING_REQUIRED),
        (Shard(1, 2), {2}, 3, CLOSE_SHARDING_REQUIRED),
    ],
)
def test_which_identify_discord_refuses(
    shard: Shard, live_counts: set[int], required: int, code: int | None
) -> None:
    assert refusal(shard, live_counts, required) == code


def test_a_snowflake_on_a_wanted_shard_is_new_and_of_now() -> None:
    clock = Clock()
    ids = SnowflakeMinter(clock)
    minted = {snowflake_on_shard(ids, i % 7, 7) for i in range(70)}
    assert len(minted) == 70
    assert sorted(shard_of(s, 7) for s in minted) == sorted(i % 7 for i in range(70))
    assert all(abs(snowflake_time(s) - clock.now()) < 1.0 for s in minted)


def test_the_bot_passes_its_shards_to_discord_py() -> None:
    assert shard_options(DiscordSettings()) == {"shard_count": None}
    assert shard_options(DiscordSettings(shard_count=3)) == {"shard_count": 3}
    assert shard_options(DiscordSettings(shard_count=3, shard_ids=(2, 0))) == {
        "shard_count": 3,
        "shard_ids": [2, 0],
    }


@pytest.mark.parametrize(
    ("shard_ids", "count", "text"),
    [
        ([0], 1, "shard 0 of 1"),
        ([1], 2, "shard 1 of 2"),
        ([0, 1], 2, "shards 0 and 1 of 2"),
        ([4, 0, 2], 8, "shards 0, 2 and 4 of 8"),
        (list(range(16)), 16, "shards 0 to 15 of 16"),
        ([0, 1, 2, 5, 7, 8, 9, 10], 12, "shards 0 to 2, 5 and 7 to 10 of 12"),
        ([], None, "no shards yet"),
    ],
)
def test_the_start_up_line_names_the_shards(
    shard_ids: list[int], count: int | None, text: str
) -> None:
    assert describe_shards(shard_ids, count) == text


def test_an_operator_is_told_which_setting_a_shard_refusal_is_about() -> None:
    invalid = shard_refusal(CLOSE_INVALID_SHARD)
    required = shard_refusal(CLOSE_SHARDING_REQUIRED)
    assert invalid is not None and "same discord.shard_count" in invalid
    assert required is not None and "discord.shard_count = 0" in required
    assert shard_refusal(4000) is None and shard_refusal(None) is None

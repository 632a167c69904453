"""`discord.shard_count` and `discord.shard_ids`: what they allow, and how `check` says it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.errors import ConfigError
from bot.settings import DiscordSettings
from bot.settings.reading import load_settings
from tests.helpers.cli import kling_bot, operator_env

SECRETS = {"DISCORD_TOKEN": "fake-bot-token.kling-omni", "COMETAPI_KEY": "sk-test-shards"}


def loaded(tmp_path: Path, discord: str) -> DiscordSettings:
    path = tmp_path / "config.toml"
    path.write_text(f"[discord]\n{discord}\n", encoding="utf-8")
    return load_settings(path, {})[0].discord


def refusal(tmp_path: Path, discord: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loaded(tmp_path, discord)
    (problem,) = caught.value.problems
    return problem.removeprefix(f"{tmp_path / 'config.toml'}: ")


def test_by_default_one_process_runs_every_shard_discord_recommends(tmp_path: Path) -> None:
    settings = loaded(tmp_path, "")
    assert (settings.shard_count, settings.shard_ids) == (0, ())


@pytest.mark.parametrize(
    ("discord", "count", "ids"),
    [
        ("shard_count = 4", 4, ()),
        ("shard_count = 4\nshard_ids = [3, 1]", 4, (3, 1)),
        ("shard_count = 1\nshard_ids = [0]", 1, (0,)),
    ],
)
def test_a_count_with_some_or_all_of_its_shards_is_accepted(
    tmp_path: Path, discord: str, count: int, ids: tuple[int, ...]
) -> None:
    settings = loaded(tmp_path, discord)
    assert (settings.shard_count, settings.shard_ids) == (count, ids)


@pytest.mark.parametrize(
    ("discord", "expected"),
    [
        (
            "shard_count = -1",
            "discord.shard_count = -1 is negative: use 0 (one process, as many shards as "
            "Discord recommends) or the total number of shards across all processes, 1 or more.",
        ),
        (
            "shard_ids = [0]",
            "discord.shard_ids = [0] needs discord.shard_count, the total number of shards "
            "across all processes (e.g. shard_count = 2 with shard_ids = [0] here and [1] in the "
            "other process); or leave shard_ids empty to run every shard in this process.",
        ),
        (
            "shard_count = 2\nshard_ids = [0, 2, 5]",
            "discord.shard_ids = [0, 2, 5] has 2 and 5, outside the shards there are: with "
            "shard_count = 2 they are numbered 0 to 1.",
        ),
        (
            "shard_count = 3\nshard_ids = [-1]",
            "discord.shard_ids = [-1] has -1, outside the shards there are: with shard_count = 3 "
            "they are numbered 0 to 2.",
        ),
        (
            "shard_count = 4\nshard_ids = [1, 3, 1, 3]",
            "discord.shard_ids = [1, 3, 1, 3] has 1 and 3 more than once: list each shard once.",
        ),
        ('shard_count = "2"', "discord.shard_count = '2' must be a whole number."),
        ("shard_count = true", "discord.shard_count = True must be a whole number."),
        ("shard_ids = 1", "discord.shard_ids = 1 must be a list, like [] or [1, 2]."),
    ],
    ids=[
        "negative-count",
        "ids-without-count",
        "ids-outside",
        "negative-id",
        "duplicates",
        "count-as-text",
        "count-as-bool",
        "ids-not-a-list",
    ],
)
def test_each_mistake_is_one_sentence_naming_the_key(
    tmp_path: Path, discord: str, expected: str
) -> None:
    assert refusal(tmp_path, discord) == expected


def test_a_wrong_count_is_said_once_without_a_second_line_about_the_ids(tmp_path: Path) -> None:
    assert refusal(tmp_path, "shard_count = -2\nshard_ids = [5]").startswith(
        "discord.shard_count = -2 is negative"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("discord", "expected"),
    [
        (
            "shard_ids = [1]",
            "✗ config.toml: discord.shard_ids = [1] needs discord.shard_count, the total number "
            "of shards across all processes (e.g. shard_count = 2 with shard_ids = [0] here and "
            "[1] in the other process); or leave shard_ids empty to run every shard in this "
            "process.",
        ),
        (
            "shard_count = 2\nshard_ids = [1, 1]",
            "✗ config.toml: discord.shard_ids = [1, 1] has 1 more than once: list each shard once.",
        ),
    ],
    ids=["ids-without-count", "duplicates"],
)
async def test_check_names_a_wrong_shard_key(tmp_path: Path, discord: str, expected: str) -> None:
    (tmp_path / "config.toml").write_text(f"[discord]\n{discord}\n", encoding="utf-8")
    run = await kling_bot("check", cwd=tmp_path, env=operator_env(**SECRETS))
    assert run.code == 2, run.output
    assert run.stderr.splitlines() == [expected]
    assert "Traceback" not in run.output


@pytest.mark.slow
async def test_check_shows_the_shard_keys_it_accepts(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        "[discord]\nshard_count = 4\nshard_ids = [2, 3]\n", encoding="utf-8"
    )
    run = await kling_bot("check", cwd=tmp_path, env=operator_env(**SECRETS))
    assert run.code == 0, run.output
    lines = run.stdout.splitlines()
    assert "  discord.shard_count = 4" in lines
    assert "  discord.shard_ids = (2, 3)" in lines

"""Loading config.toml + environment, and the one-line messages for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import describe_settings, load_settings, problems_for_running

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_documents_every_key() -> None:
    settings, _ = load_settings(ROOT / "config.example.toml", {})
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for line in describe_settings(settings):
        key = line.split(" = ")[0].split(".")[-1]
        assert f"{key} =" in text, f"{key} is not documented in config.example.toml"
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line or line.split("=")[0].strip() in (
                "base",
                "per_second",
                "pro_multiplier",
            )


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[omni]\napi_key = "from-file"\n[discord]\ntoken = "file-token"\n')
    settings, _ = load_settings(path, {"COMETAPI_KEY": "sk-env", "DISCORD_TOKEN": "env-token"})
    assert settings.omni.api_key.get_secret_value() == "sk-env"
    assert settings.discord.token.get_secret_value() == "env-token"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[omni]\nmode = "pro"\n')
    settings, used = load_settings(None, {"KLING_BOT_CONFIG": str(path)})
    assert used == path
    assert settings.omni.mode == "pro"


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file\. Copy config\.example\.toml"):
        load_settings(tmp_path / "missing.toml", {})


def test_default_file_may_be_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings, _ = load_settings(None, {"COMETAPI_KEY": "sk-x"})
    assert settings.omni.model == "kling-video-o1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[omni]\nmode = "fast"\n', 'omni.mode = \'fast\' is not allowed: use "std" or "pro".'),
        (
            "[omni]\nmax_concurent_tasks = 3\n",
            "omni.max_concurent_tasks is not a known key (did you mean omni.max_concurrent_tasks?)",
        ),
        (
            "[omni]\nmax_concurrent_tasks = 0\n",
            "omni.max_concurrent_tasks = 0 is out of range: use 1 to 100.",
        ),
        (
            "[omni]\nduration = 7\n",
            "omni.duration = 7 is not allowed for text-to-video on kling-video-o1: use 5 or 10.",
        ),
        ("[quotas]\ndefault_limit = -3\n", 'use a whole number, 0 or more, or "unlimited"'),
        (
            '[quotas]\nwindow = "year"\n',
            'quotas.window = \'year\' is not allowed: use "day", "week" or "month".',
        ),
        (
            '[discord]\napi_base = "ftp://x"\n',
            "discord.api_base = 'ftp://x' must start with https:// or http://.",
        ),
        ('[discord]\nguild_ids = "abc"\n', "discord.guild_ids = 'abc' must be a list"),
        ("omni = 3\n", "omni must be a [omni] table."),
        ("[omni\n", "not valid TOML"),
        ('[reruns]\nallow = "everyone"\n', 'use "requester" or "anyone"'),
        ('[logging]\nformat = "xml"\n', "logging.format = 'xml' is not allowed: use \"text\" or"),
        (
            '[logging]\nlevel = "LOUD"\n',
            'logging.level = \'LOUD\' is not allowed: use "DEBUG", "INFO", "WARNING" or "ERROR".',
        ),
    ],
)
def test_one_clear_line_per_mistake(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    message = caught.value.member_message
    assert expected in message
    assert "\n" not in message


def test_unlimited_quota_and_v3_durations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[quotas]\ndefault_limit = "unlimited"\n[omni]\nmodel = "kling-v3-omni"\nduration = 12\n',
    )
    settings, _ = load_settings(path, {})
    assert settings.quotas.default_limit == "unlimited"
    assert settings.omni.duration == 12


def test_secrets_are_masked_and_missing_ones_reported(tmp_path: Path) -> None:
    settings, _ = load_settings(write(tmp_path, ""), {"COMETAPI_KEY": "sk-very-secret"})
    described = "\n".join(describe_settings(settings))
    assert "sk-very-secret" not in described
    assert "omni.api_key = (set, 14 characters)" in described
    assert problems_for_running(settings) == [
        "discord.token is empty: set DISCORD_TOKEN or discord.token."
    ]
    assert "sk-very-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("cost", "mode", "seconds", "credits"),
    [
        ("", "std", 5, 1),
        ("base = 1\nper_second = 0.2\n", "std", 10, 3),
        ("base = 1\npro_multiplier = 2\n", "pro", 5, 2),
        ("base = 0\nper_second = 0.5\npro_multiplier = 1.5\n", "pro", 5, 4),
    ],
)
def test_cost_weights(tmp_path: Path, cost: str, mode: str, seconds: int, credits: int) -> None:
    settings, _ = load_settings(write(tmp_path, f"[quotas.cost]\n{cost}"), {})
    assert settings.quotas.cost.credits_for(mode, seconds) == credits  # type: ignore[arg-type]

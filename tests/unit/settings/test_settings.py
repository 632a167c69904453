"""Loading config.toml + environment, and the one-line messages for every kind of mistake."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from bot.domain.errors import ConfigError
from bot.settings.mistakes import describe_settings
from bot.settings.reading import ConfigReport, load_settings, problems_for_running, read_config

ROOT = Path(__file__).resolve().parents[3]


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


# -- `check` never echoes a secret ----------------------------------------------------------------

DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"
SK_KEY = "sk-live-9f8e7d6c5b4a39281706"
PASSWORD = "hunter2-Secret"


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            f'[discord]\ntoken = ["{DISCORD_TOKEN}"]\n',
            DISCORD_TOKEN,
            "discord.token (a list; a secret, so not shown) must be text in quotes, like "
            'token = "…"',
        ),
        (
            f'[omni]\napi_key = {{ key = "{SK_KEY}" }}\n',
            SK_KEY,
            "omni.api_key (a table; a secret, so not shown) must be text in quotes, like "
            'api_key = "…"',
        ),
        ("[omni]\napi_key = 739182734\n", "739182734", "omni.api_key (a number; a secret"),
        (
            f'[omni]\nbase_url = "{SK_KEY}"\n',
            SK_KEY,
            "omni.base_url (its value looks like a token or key, so not shown: secrets belong in "
            "discord.token or omni.api_key) must start with https:// or http://.",
        ),
        (
            f'[discord]\nguild_ids = ["{DISCORD_TOKEN}"]\n',
            DISCORD_TOKEN,
            "discord.guild_ids (its value looks like a token or key, so not shown",
        ),
        (  # not a known shape, but the very key the file gives omni.api_key
            '[omni]\napi_key = "plain-words"\nmode = "plain-words"\n',
            "plain-words",
            "omni.mode (its value looks like a token or key, so not shown: secrets belong in "
            'discord.token or omni.api_key) is not allowed: use "std" or "pro".',
        ),
        (
            f'[storage]\ndatabase = ["postgresql://kling:{PASSWORD}@db.example/kling"]\n',
            PASSWORD,
            "storage.database = ['postgresql://kling:***@db.example/kling'] must be text in quotes",
        ),
        (f"[omni]\n{SK_KEY} = 1\n", SK_KEY, "looks like a token or key is not a known key"),
    ],
    ids=[
        "token-list",
        "key-table",
        "key-number",
        "key-in-base_url",
        "token-in-guild_ids",
        "known-key-in-mode",
        "database-password",
        "key-as-a-key",
    ],
)
def test_a_refused_value_never_echoes_a_secret(
    tmp_path: Path, text: str, secret: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    message = caught.value.member_message
    assert secret not in message
    assert expected in message


def test_an_environment_secret_is_not_echoed_from_another_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            write(tmp_path, '[omni]\nmode = "env-words"\n'), {"COMETAPI_KEY": "env-words"}
        )
    assert "env-words" not in caught.value.member_message
    assert "omni.mode (its value looks like a token or key" in caught.value.member_message


def test_described_settings_mask_url_passwords_and_misplaced_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[storage]\ndatabase = "postgresql://kling:{PASSWORD}@db.example/kling"\n'
        f'[quotas]\nmoderator_roles = ["{SK_KEY}", "Helpers"]\n',
    )
    settings, _ = load_settings(path, {})
    described = "\n".join(describe_settings(settings))
    assert PASSWORD not in described
    assert SK_KEY not in described
    assert "storage.database = 'postgresql://kling:***@db.example/kling'" in described
    assert "quotas.moderator_roles = (looks like a token or key: not shown)" in described


# -- every mistake at once, and the usual pastes ------------------------------------------------


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[omni]\nmode = "fast"\nmax_concurent_tasks = 3\n'
        '[quotas]\nwindow = "year"\ndefault_limit = -1\n'
        "[storage]\nmax_result_mb = 0\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.problems == (
        f'{path}: omni.mode = \'fast\' is not allowed: use "std" or "pro".',
        f"{path}: omni.max_concurent_tasks is not a known key (did you mean "
        "omni.max_concurrent_tasks?).",
        f"{path}: storage.max_result_mb = 0 is out of range: use 1 to 4096.",
        f'{path}: quotas.window = \'year\' is not allowed: use "day", "week" or "month".',
        f"{path}: quotas.default_limit = -1 is not allowed: use a whole number, 0 or more, or "
        '"unlimited".',
    )


def test_a_file_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('\ufeff[omni]\nmode = "pro"\n'.encode())
    settings, _ = load_settings(path, {})
    assert settings.omni.mode == "pro"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[quota]\ndefault_limit = 3\n",
            "[quota] is not a known section (did you mean [quotas]?): the sections are "
            "[discord], [omni], [storage], [quotas], [reruns], [logging] and [http].",
        ),
        (
            "[web]\nport = 80\n",
            "[web] is not a known section: the sections are [discord], [omni], [storage], "
            "[quotas], [reruns], [logging] and [http].",
        ),
        (
            'mode = "pro"\n',
            "mode is not a known key: settings go in a section: [discord], [omni], [storage], "
            "[quotas], [reruns], [logging] and [http].",
        ),
    ],
)
def test_an_unknown_section_lists_the_valid_ones(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    assert caught.value.problems == (f"{tmp_path / 'config.toml'}: {expected}",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[omni]\nmode = "std"\nmodel = "kling-video-o1"\nmode = "pro"\n',
            "omni.mode is set twice (the second time on line 4): keep one.",
        ),
        (  # tomllib says only "at end of document" for this one
            '[storage]\n"media_dir" = "a"\n\nmedia_dir = "b"',
            "storage.media_dir is set twice (the second time on line 4): keep one.",
        ),
        (
            "[quotas]\nwindow = 'day'\n[omni]\n[quotas]\n",
            "[quotas] is set twice (the second time on line 4): keep one.",
        ),
        ("omni.mode = 'std'\nomni.mode = 'pro'\n", "omni.mode is set twice"),
        (
            f"[omni]\n{SK_KEY} = 1\n{SK_KEY} = 2\n",
            "a key that looks like a token or key (not shown) is set twice (the second time on "
            "line 3)",
        ),
    ],
)
def test_a_duplicated_key_is_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {})
    assert expected in caught.value.member_message
    assert SK_KEY not in caught.value.member_message


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            f"Bot {TOKEN}",
            'starts with "Bot ": paste the token alone, without "Bot " (the bot adds it).',
        ),
        (f'"{TOKEN}"', "is wrapped in quotes: remove them"),
        (f"{TOKEN}\n", "has spaces or a line break around it: paste the token alone."),
        (f"{TOKEN[:20]} {TOKEN[20:]}", "contains a space"),
    ],
    ids=["bot-prefix", "quotes", "newline", "space"],
)
def test_a_mispasted_token_is_explained_without_showing_it(value: str, expected: str) -> None:
    for where, env, subject in (
        ("file", {}, "discord.token (text; a secret, so not shown) "),
        ("env", {"DISCORD_TOKEN": value}, "discord.token (from DISCORD_TOKEN; a secret, so "),
    ):
        data = {} if env else {"discord": {"token": value}}
        report = _report(data, env)
        (problem,) = report.problems
        assert subject in problem, where
        assert expected in problem, where
        assert TOKEN[:20] not in problem and TOKEN[20:] not in problem
        assert problem.startswith("/") == (where == "file")  # the env's is not in the file


def test_a_key_with_bearer_is_explained() -> None:
    report = _report({"omni": {"api_key": "Bearer sk-abcdef123456"}}, {})
    (problem,) = report.problems
    assert 'omni.api_key (text; a secret, so not shown) starts with "Bearer "' in problem
    assert "abcdef123456" not in problem


@pytest.mark.parametrize(
    ("base_url", "right"),
    [
        ("https://api.cometapi.com/v1", "https://api.cometapi.com"),
        ("https://api.cometapi.com/v1/", "https://api.cometapi.com"),
        ("https://api.cometapi.com/kling/v1/videos/omni-video", "https://api.cometapi.com"),
        ("https://proxy.example/comet/v1", "https://proxy.example/comet"),
    ],
)
def test_a_base_url_with_the_api_path_is_refused_with_the_right_form(
    base_url: str, right: str
) -> None:
    (problem,) = _report({"omni": {"base_url": base_url}}, {}).problems
    assert f'use "{right}" (the bot adds /kling/v1/… itself).' in problem
    assert problem.split(": ", 1)[1].startswith(f"omni.base_url = '{base_url}' ends in /")


def test_a_proxy_path_that_is_not_the_api_path_is_kept() -> None:
    report = _report({"omni": {"base_url": "https://proxy.example/v1beta/comet"}}, {})
    assert report.settings is not None
    assert report.settings.omni.base_url == "https://proxy.example/v1beta/comet"


def test_check_says_where_each_secret_came_from() -> None:
    report = _report(
        {"discord": {"token": "file-token-1234"}, "omni": {"api_key": "sk-file-key"}},
        {"DISCORD_TOKEN": "env-token-5678"},
    )
    assert report.settings is not None
    described = "\n".join(describe_settings(report.settings, report.secret_origins))
    assert (
        "discord.token = (set, 14 characters, from DISCORD_TOKEN, which overrides the file's "
        "value)" in described
    )
    assert "omni.api_key = (set, 11 characters, from the file)" in described
    for secret in ("file-token-1234", "env-token-5678", "sk-file-key"):
        assert secret not in described


def _report(data: dict[str, dict[str, str]], env: dict[str, str]) -> ConfigReport:
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return read_config(path, env)

"""`kling-bot check`, `run` and `--version` as an operator sees them: processes, their output.

Every mistake is said at once, each naming the key to fix; a path the bot's user can't write is
found before anything starts; nothing ends in a traceback, and no secret is echoed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.about import bot_version
from bot.fakes.comet import FakeCometAPI, FakeCometConfig
from tests.helpers.cli import kling_bot, operator_env, run_main_as

pytestmark = pytest.mark.slow

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"
KEY = "sk-test-Recognisable-Secret-7f3a9c"
IMAGE_UID = 10001  # the Docker image's user


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user may enter (pytest's own tmp_path is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="kling-bot-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def not_writable_for_the_bot(directory: Path) -> int | None:
    """Make `directory` one the bot's process can't write, as a bind mount owned by someone else
    is; return the user to run the bot as (None: this test's own user)."""
    if os.geteuid() == 0:
        return IMAGE_UID  # root writes anywhere: run as the image's user, as Docker does
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    return None


def secrets_env(**more: str) -> dict[str, str]:
    return operator_env(**{"DISCORD_TOKEN": TOKEN, "COMETAPI_KEY": KEY, **more})


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def test_version(tmp_path: Path) -> None:
    run = await kling_bot("--version", cwd=tmp_path)
    assert run.code == 0
    assert run.stdout.strip() == f"kling-bot {bot_version()} (Kling Omni Bot)"
    assert bot_version() != "unknown"


async def test_check_says_every_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    (tmp_path / "config.toml").write_text(
        '[omni]\nmode = "fast"\nbase_url = "https://api.cometapi.com/v1"\n'
        "[quota]\ndefault_limit = 3\n"
        '[storage]\ndatabase = "data/kling-bot.sqlite3"\nmedia_dir = "data/media"\n',
        encoding="utf-8",
    )
    run = await kling_bot("check", cwd=tmp_path)
    assert run.code == 2
    assert run.stderr.splitlines() == [
        "✗ config.toml: omni.base_url = 'https://api.cometapi.com/v1' ends in /v1: use "
        '"https://api.cometapi.com" (the bot adds /kling/v1/… itself).',
        '✗ config.toml: omni.mode = \'fast\' is not allowed: use "std" or "pro".',
        "✗ config.toml: [quota] is not a known section (did you mean [quotas]?): the sections "
        "are [discord], [omni], [storage], [quotas], [reruns], [logging] and [http].",
        "✗ discord.token is empty: set DISCORD_TOKEN or discord.token.",
        "✗ storage.database = data/kling-bot.sqlite3: data is a file, not a directory: choose "
        "another path.",
        "✗ storage.media_dir = data/media: data is a file, not a directory: choose another path.",
    ]
    assert run.stdout.splitlines()[-1] == "✗ 6 problems: fix them and run check again."
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ('\ufeff[omni]\nmode = "pro"\n', 0, "  omni.mode = 'pro'"),
        (
            '[omni]\nmode = "std"\nmode = "pro"\n',
            2,
            "✗ config.toml: omni.mode is set twice (the second time on line 3): keep one.",
        ),
    ],
    ids=["bom", "duplicated-key"],
)
async def test_check_reads_a_bom_and_names_a_duplicated_key(
    tmp_path: Path, text: str, code: int, expected: str
) -> None:
    (tmp_path / "config.toml").write_bytes(text.encode("utf-8"))
    run = await kling_bot("check", cwd=tmp_path, env=secrets_env())
    assert run.code == code, run.output
    assert expected in run.output.splitlines()


def test_check_and_run_refuse_a_data_directory_the_bots_user_cannot_write(
    shared_dir: Path,
) -> None:
    """The usual Docker bind mount: ./data made by the host's user, the image runs as 10001.
    Before, `check` passed and the bot made and billed videos it could not keep."""
    data = shared_dir / "data"
    data.mkdir(mode=0o755)
    user = not_writable_for_the_bot(data)
    uid = user if user is not None else os.geteuid()
    for command in ("check", "run"):
        run = run_main_as(user, [command], cwd=shared_dir, env=secrets_env())
        assert run.code == 2, run.output
        failures = [line for line in run.stderr.splitlines() if line.startswith("✗")]
        assert failures == [
            f"✗ {key} = {path}: this process (uid {uid}) can't write {data} (Permission "
            f"denied). Give that user the directory (a Docker bind mount: `sudo chown -R "
            f"{uid}:{uid}` the host's directory) or choose another path."
            for key, path in (
                ("storage.database", "data/kling-bot.sqlite3"),
                ("storage.media_dir", "data/media"),
            )
        ]
        assert "Traceback" not in run.output
        assert TOKEN not in run.output and KEY not in run.output
    assert list(data.iterdir()) == []


async def test_environment_alone_is_a_whole_configuration(tmp_path: Path) -> None:
    """No config file and no KLING_BOT_CONFIG (the Docker image's way): defaults + environment."""
    run = await kling_bot("check", cwd=tmp_path, env=secrets_env())
    assert run.code == 0, run.output
    lines = run.stdout.splitlines()
    assert lines[0] == "Configuration: config.toml (absent: defaults and environment)"
    assert f"  discord.token = (set, {len(TOKEN)} characters, from DISCORD_TOKEN)" in lines
    assert f"  omni.api_key = (set, {len(KEY)} characters, from COMETAPI_KEY)" in lines
    assert lines[-1] == "✓ The configuration is valid."
    assert TOKEN not in run.output and KEY not in run.output
    assert entries(tmp_path) == []  # checking creates nothing
    # `run` reads the same: without the token it names the variable, not a missing file.
    run = await kling_bot("run", cwd=tmp_path, env=operator_env(COMETAPI_KEY=KEY))
    assert run.code == 2
    assert run.stderr == "✗ discord.token is empty: set DISCORD_TOKEN or discord.token.\n"


async def test_a_token_pasted_with_bot_is_explained_with_where_it_came_from(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(f'[discord]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    for command in ("check", "run"):
        run = await kling_bot(command, cwd=tmp_path, env=secrets_env(DISCORD_TOKEN=f"Bot {TOKEN}"))
        assert run.code == 2
        assert run.stderr.splitlines()[0] == (
            "✗ discord.token (from DISCORD_TOKEN, which overrides the file's value; a secret, "
            'so not shown) starts with "Bot ": paste the token alone, without "Bot " (the bot '
            "adds it)."
        )
        assert TOKEN not in run.output and TOKEN[:24] not in run.output


async def test_a_refused_api_key_names_the_setting_in_the_operators_log(tmp_path: Path) -> None:
    async with FakeCometAPI(FakeCometConfig(api_key="sk-the-right-one-123456")) as fake:
        (tmp_path / "config.toml").write_text(
            f'[omni]\nbase_url = "{fake.base_url}"\n', encoding="utf-8"
        )
        run = await kling_bot("submit", "a paper boat", "--wait", cwd=tmp_path, env=secrets_env())
    assert run.code == 1
    (refused,) = [line for line in run.stderr.splitlines() if "create refused" in line]
    assert "http=401" in refused
    assert "check omni.api_key (or COMETAPI_KEY, which overrides it)" in refused
    assert KEY not in run.output

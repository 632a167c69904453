"""docker-compose.yml as far as a machine without Docker Compose can check it: PostgreSQL with
a health check, two bot processes that together run every shard once, on one database and one
data volume, each configured by a file the bot itself accepts, secrets only in the env file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings
from bot.settings.reading import load_settings

ROOT = Path(__file__).resolve().parents[3]
SECRETS = {
    "DISCORD_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789ab",
    "COMETAPI_KEY": "sk-abcdefghijklmnopqrstuvwxyz012345",
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return loaded


def bots() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("build") == "."}


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings the process of `service` runs with (its config file, as mounted)."""
    in_container = Path(service["environment"]["KLING_BOT_CONFIG"])
    (mount,) = [v for v in service["volumes"] if v.endswith(":/app/compose:ro")]
    on_host = ROOT / mount.split(":")[0] / in_container.relative_to("/app/compose")
    settings, _ = load_settings(on_host, SECRETS)
    return settings


def test_postgresql_is_healthy_before_any_bot_starts() -> None:
    postgres = compose()["services"]["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    for service in bots().values():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_bot_processes_run_every_shard_once_on_one_database() -> None:
    settings = [settings_of(service) for service in bots().values()]
    assert len(settings) == 2
    counts = {s.discord.shard_count for s in settings}
    assert counts == {2}
    shards = sorted(i for s in settings for i in s.discord.shard_ids)
    assert shards == [0, 1]
    databases = {str(s.storage.database) for s in settings}
    assert databases == {"postgresql://kling@postgres:5432/kling"}  # no password in it
    media = {s.storage.media_dir for s in settings}
    assert media == {Path("data/media")}


def test_every_process_shares_the_data_volume_and_reads_secrets_from_the_env_file() -> None:
    declared = set(compose()["volumes"])
    for service in bots().values():
        (data,) = [v for v in service["volumes"] if v.endswith(":/app/data")]
        assert data.split(":")[0] in declared  # a named volume, the same for all
        assert service["env_file"] == "kling-bot.env"
    example = (ROOT / "compose" / "kling-bot.env.example").read_text("utf-8")
    for variable in ("DISCORD_TOKEN", "COMETAPI_KEY", "PGPASSWORD", "POSTGRES_PASSWORD"):
        assert f"\n{variable}=" in example
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    assert "*.env" in ignored  # the env file never enters an image

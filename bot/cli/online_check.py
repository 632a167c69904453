"""`kling-bot check --online` and `kling-bot invite`: ask the services with calls that cost nothing.

- Discord: who the token logs in as (`GET /users/@me`), and the application it belongs to.
- CometAPI: a query of a task id that cannot exist. A valid key gets "task_not_exist"; a wrong
  one gets 401. Nothing is created, nothing is billed.
- The database: readable, a kling-bot database, its schema version, and whether a bot holds it
  (SQLite: the engine lock; PostgreSQL: the bots' connections). PostgreSQL: a server that does
  not answer, or refuses the login, is said as such (the password never shown).

Each check says exactly what failed and how to fix it; no secret is ever printed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from bot.domain.credentials import mask_passwords
from bot.domain.errors import ApiError, ApiErrorKind
from bot.domain.logs import PASSWORD_ENV
from bot.omni.client import OmniClient, RetryPolicy
from bot.settings import DISCORD_TOKEN_ENV, Settings
from bot.store.migrate import load_migrations
from bot.store.postgresql import APPLICATION_NAME
from bot.store.postgresql_migrate import load_postgresql_migrations, schema_version

_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=10)
_DATABASE_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One online check: what was checked, whether it passed, and the sentence to print."""

    name: str
    is_ok: bool
    message: str


def client_id_from_token(token: str) -> int | None:
    """A bot token's first part is its user id (= the application id) in base64; else None."""
    first = token.split(".", 1)[0]
    try:
        text = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() else None


async def check_online(settings: Settings) -> list[CheckResult]:
    """Every online check, in the order an operator fixes things."""
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        discord, comet = await asyncio.gather(
            check_discord(settings, session), check_cometapi(settings, session)
        )
        results = [discord, comet, await check_database(settings.storage.database)]
        if settings.omni.callback_url:
            results.append(await check_callback_url(settings.omni.callback_url, session))
    return results


class CheckFailed(Exception):
    """An online check failed; the message says how to fix it."""


async def discord_application(
    settings: Settings, session: aiohttp.ClientSession
) -> dict[str, object]:
    """`GET /oauth2/applications/@me` with the bot token; raises `CheckFailed`."""
    return await _discord_get(settings, session, "/oauth2/applications/@me")


async def _discord_get(
    settings: Settings, session: aiohttp.ClientSession, path: str
) -> dict[str, object]:
    token = settings.discord.token.get_secret_value()
    url = settings.discord.api_base + path
    try:
        async with session.get(url, headers={"Authorization": f"Bot {token}"}) as response:
            status = response.status
            body = await response.json(content_type=None) if status == 200 else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CheckFailed(
            f"Discord could not be reached at {settings.discord.api_base} "
            f"({type(exc).__name__}); check the network, or discord.api_base."
        ) from None
    except ValueError:
        raise CheckFailed(f"{url} did not answer with JSON: check discord.api_base.") from None
    if status == 401:
        raise CheckFailed(
            "Discord refused the bot token (401). Copy it again from the Developer Portal "
            f"(your application → Bot → Reset Token) into {DISCORD_TOKEN_ENV} or discord.token."
        )
    if status != 200 or not isinstance(body, dict):
        raise CheckFailed(f"Discord answered {status} to {path}; try again in a minute.")
    return body


async def check_discord(settings: Settings, session: aiohttp.ClientSession) -> CheckResult:
    """Who the token logs in as, and its application."""
    if not settings.discord.token.get_secret_value():
        return CheckResult(
            "Discord", False, f"discord.token is empty: set {DISCORD_TOKEN_ENV} or discord.token."
        )
    try:
        me = await _discord_get(settings, session, "/users/@me")
        application = await discord_application(settings, session)
    except CheckFailed as failure:
        return CheckResult("Discord", False, str(failure))
    if me.get("bot") is not True:
        return CheckResult(
            "Discord",
            False,
            f"The token logs in as {me.get('username')}, a user account, not a bot: use the "
            "token from your application's Bot page.",
        )
    scopes = _install_scopes(application)
    message = (
        f"the token logs in as the bot {me.get('username')} (id {me.get('id')}), application "
        f"{application.get('name')!r} (id {application.get('id')})"
    )
    if scopes is not None and "applications.commands" not in scopes:
        return CheckResult(
            "Discord",
            False,
            message + ". Its default install link lacks the applications.commands scope, so "
            "servers that add it from there get no slash commands: invite it with "
            "`kling-bot invite`, or add the scope in the Developer Portal (Installation).",
        )
    return CheckResult("Discord", True, message + ".")


def _install_scopes(application: dict[str, object]) -> list[str] | None:
    params = application.get("install_params")
    if not isinstance(params, dict):
        return None  # no default install link: the invite URL sets the scopes
    scopes = params.get("scopes")
    return [str(s) for s in scopes] if isinstance(scopes, list) else None


async def check_cometapi(settings: Settings, session: aiohttp.ClientSession) -> CheckResult:
    """A query of a task id that cannot exist: "not found" proves the key, 401 refutes it."""
    key = settings.omni.api_key.get_secret_value()
    if not key:
        return CheckResult("CometAPI", False, "omni.api_key is empty: set COMETAPI_KEY or it.")
    client = OmniClient(
        session, settings.omni.base_url, key, query_retry=RetryPolicy(max_attempts=1)
    )
    probe = f"kling-bot-check-{uuid.uuid4().hex}"
    try:
        await client.query(probe)
    except ApiError as error:
        return _comet_verdict(error, settings.omni.base_url)
    return CheckResult(
        "CometAPI",
        False,
        f"{settings.omni.base_url} answered a query of a made-up task as if it existed: "
        "is omni.base_url really CometAPI?",
    )


def _comet_verdict(error: ApiError, base_url: str) -> CheckResult:
    kind = error.kind
    if kind is ApiErrorKind.NOT_FOUND:
        return CheckResult(
            "CometAPI", True, f"the key is accepted by {base_url} (a made-up task is not found)."
        )
    if kind is ApiErrorKind.AUTH:
        return CheckResult(
            "CometAPI",
            False,
            f"{base_url} refused the key ({error.http_status}). Copy it again from your "
            "CometAPI dashboard (API Keys) into COMETAPI_KEY or omni.api_key.",
        )
    if kind is ApiErrorKind.OUT_OF_CREDIT:
        return CheckResult(
            "CometAPI", False, "the key works, but the account is out of credit: top it up."
        )
    return CheckResult(
        "CometAPI",
        False,
        f"{base_url} could not be asked ({error.log_line()}); check the network and "
        "omni.base_url, or try again in a minute.",
    )


async def check_callback_url(callback_url: str, session: aiohttp.ClientSession) -> CheckResult:
    """Post an unsigned callback to the public URL: a running bot behind it answers 403."""
    probe = f"{callback_url}/kling-bot-check.{'0' * 32}"
    try:
        async with session.post(probe, json={"task_id": "check"}) as response:
            status = response.status
            body = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return CheckResult(
            "Callbacks",
            False,
            f"{callback_url} can't be reached from here ({type(exc).__name__}). Start the bot "
            "first if it is not running; else check the DNS name, the TLS certificate and that "
            "the reverse proxy forwards it to [http] listen's /omni/callback.",
        )
    if status == 403 and '"forbidden"' in body:
        return CheckResult(
            "Callbacks",
            True,
            f"{callback_url} reaches a running kling-bot (it refused an unsigned probe, as it "
            "should). CometAPI must reach it from the internet too.",
        )
    return CheckResult(
        "Callbacks",
        False,
        f"{callback_url} answered {status}, not a kling-bot: the reverse proxy must forward "
        "<callback_url>/<token> to [http] listen's /omni/callback/<token>.",
    )


async def check_database(database: Path | str) -> CheckResult:
    """Readable, a kling-bot database, its schema, and whether a bot is running on it."""
    if isinstance(database, str):
        return await check_postgresql(database)
    return await asyncio.to_thread(_check_database, database)


async def check_postgresql(url: str) -> CheckResult:
    """Log in (nothing is migrated or written), read the schema version, count the tasks and
    the bots connected; a server that does not answer or refuses the login said as such."""
    where = mask_passwords(url)
    parts = urlsplit(url)
    server = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    try:
        conn = await asyncpg.connect(url, timeout=_DATABASE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return CheckResult(
            "Database",
            False,
            f"PostgreSQL at {server} does not answer ({type(exc).__name__}): is the server "
            "running, and are the host and port in storage.database right?",
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        return CheckResult(
            "Database",
            False,
            f"PostgreSQL at {server} refused the login ({mask_passwords(str(exc))}): check the "
            f"user and password in storage.database (or {PASSWORD_ENV}).",
        )
    except asyncpg.InvalidCatalogNameError as exc:
        return CheckResult(
            "Database",
            False,
            f"PostgreSQL at {server} answers, but {mask_passwords(str(exc))}: create it "
            "(createdb) or fix the database name in storage.database.",
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return CheckResult("Database", False, f"{where}: {mask_passwords(str(exc))}.")
    try:
        version = await schema_version(conn)
        tasks = int(await conn.fetchval("SELECT count(*) FROM tasks")) if version else 0
        bots = int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = $1",
                APPLICATION_NAME,
            )
        )
    finally:
        await conn.close()
    latest = len(load_postgresql_migrations())
    running = f" {bots} bot connection(s) are open now." if bots else ""
    return _schema_verdict(where, version, latest, f"{tasks} tasks.{running}")


def _check_database(database: Path) -> CheckResult:
    if not database.exists():
        folder = database.parent
        while not folder.exists():
            folder = folder.parent
        if not os.access(folder, os.W_OK):
            return CheckResult(
                "Database",
                False,
                f"{database} does not exist and {folder} is not writable: the bot can't create "
                "it. Fix the permissions or change storage.database.",
            )
        return CheckResult("Database", True, f"{database} will be created on the first start.")
    try:
        # Read-only: a check never migrates or changes the database.
        with contextlib.closing(
            sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        ) as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            quick = db.execute("PRAGMA quick_check").fetchone()[0]
            tasks = int(db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]) if version else 0
    except sqlite3.DatabaseError as exc:
        return CheckResult(
            "Database", False, f"{database} can't be read as a kling-bot database: {exc}."
        )
    latest = max((m.version for m in load_migrations()), default=0)
    if quick != "ok":
        return CheckResult("Database", False, f"{database} is damaged: {quick}. Restore a backup.")
    running = " A bot is running on it now." if _is_locked(database) else ""
    return _schema_verdict(str(database), version, latest, f"{tasks} tasks.{running}")


def _schema_verdict(where: str, version: int, latest: int, facts: str) -> CheckResult:
    if version > latest:
        return CheckResult(
            "Database",
            False,
            f"{where} has schema version {version}, newer than this kling-bot knows "
            f"({latest}): upgrade kling-bot, or restore a backup made before the upgrade.",
        )
    pending = f"; {latest - version} migration(s) will run on start" if version < latest else ""
    return CheckResult(
        "Database", True, f"{where} is readable, schema version {version}{pending}, {facts}"
    )


def _is_locked(database: Path) -> bool:
    lock = database.with_name(database.name + ".lock")
    if not lock.exists():
        return False
    with lock.open("ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False

"""What `kling-bot check` and `run` prove before the bot starts, every problem at once.

The config's mistakes, the secrets still missing, and the storage paths: each one must be usable
by this very process (its user id, its filesystem), or the bot would make and bill a video it
cannot keep. A problem is one line naming the key to fix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.domain.credentials import looks_like_credential
from bot.settings import DiscordSettings, OmniSettings, StorageSettings
from bot.settings.database import check_postgresql_url, shown_database
from bot.settings.reading import ConfigReport, missing_secrets

DATABASE_KEY = "storage.database"
MEDIA_KEY = "storage.media_dir"
SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite and the engine lock keep next to the database: each must be writable too.
_DATABASE_COMPANIONS = (".lock", "-wal", "-shm", "-journal")


def preflight_problems(report: ConfigReport) -> list[str]:
    """Everything that stops the bot from starting: the config's mistakes, missing secrets, and
    storage paths this process can't use (checked for each section that is right on its own)."""
    problems = list(report.problems)
    discord = report.sections.get("discord")
    omni = report.sections.get("omni")
    problems += missing_secrets(
        discord if isinstance(discord, DiscordSettings) else None,
        omni if isinstance(omni, OmniSettings) else None,
    )
    storage = report.sections.get("storage")
    if isinstance(storage, StorageSettings):
        problems += storage_problems(storage)
    return problems


def storage_problems(storage: StorageSettings) -> list[str]:
    """Whether this process can create, open and write the database and the media directory.

    A PostgreSQL server is not a file: its URL's shape is checked here, the server itself by
    `check --online`."""
    problems = []
    database = storage.database
    checks: list[tuple[str, Path | str, Callable[[Any], str | None]]] = [
        (DATABASE_KEY, database, _database_problem if isinstance(database, Path) else _url_problem),
        (MEDIA_KEY, storage.media_dir, _media_problem),
    ]
    for key, place, check in checks:
        if looks_like_credential(shown_database(place) if isinstance(place, str) else str(place)):
            # Never echoed, and never a path anyone meant: a secret pasted in the wrong key.
            problems.append(
                f"{key} (its value looks like a token or key, so not shown): give a path; "
                "secrets belong in discord.token or omni.api_key."
            )
            continue
        problem = check(place)
        if problem is not None:
            problems.append(problem)
    return problems


def _url_problem(url: str) -> str | None:
    try:
        check_postgresql_url(url)
    except ValueError as exc:
        return f"{DATABASE_KEY} = {shown_database(url)} {exc}."
    return None


def _database_problem(path: Path) -> str | None:
    subject = f"{DATABASE_KEY} = {path}"
    if path.is_dir():
        return (
            f"{subject} is a directory: name the database file, like {path / 'kling-bot.sqlite3'}."
        )
    blocker = _file_in_the_way(path.parent)
    if blocker is not None:
        return f"{subject}: {blocker} is a file, not a directory: choose another path."
    if path.exists() and not path.is_file():
        return f"{subject} is not a regular file: choose another path."
    problem = _unwritable(path.parent, subject)
    if problem is not None:
        return problem
    for name in (path.name, *(path.name + suffix for suffix in _DATABASE_COMPANIONS)):
        problem = _unwritable_file(path.with_name(name), subject)
        if problem is not None:
            return problem
    return _not_sqlite(path, subject)


def _media_problem(path: Path) -> str | None:
    subject = f"{MEDIA_KEY} = {path}"
    blocker = _file_in_the_way(path)
    if blocker is not None:
        where = "it" if blocker == path else str(blocker)
        return f"{subject}: {where} is a file, not a directory: choose another path."
    problem = _unwritable(path, subject)
    if problem is not None or not path.is_dir():
        return problem
    # Folders an earlier run made (as another user, say root before a switch to Docker).
    with contextlib.suppress(OSError):
        for child in sorted(path.iterdir()):
            if child.is_dir():
                problem = _unwritable(child, subject)
                if problem is not None:
                    return problem
    return None


def _file_in_the_way(directory: Path) -> Path | None:
    """The first existing ancestor of `directory` (itself included) that is not a directory."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _unwritable(directory: Path, subject: str) -> str | None:
    """Try to create a file in `directory`, or in the nearest existing folder it would be made
    in: the only proof that counts (uid, permissions, ACLs, a read-only mount)."""
    existing = next((p for p in (directory, *directory.parents) if p.is_dir()), None)
    if existing is None:
        return None  # nothing exists at all: the root itself is missing, which can't happen
    try:
        handle, probe = tempfile.mkstemp(prefix=".kling-bot-check-", dir=existing)
    except OSError as error:
        return _cannot_write(subject, existing.absolute(), error)
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _unwritable_file(path: Path, subject: str) -> str | None:
    """An existing file this process must write (opened for appending: nothing is changed)."""
    if not path.is_file():
        return None
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        return _cannot_write(subject, path.absolute(), error)
    return None


def _not_sqlite(path: Path, subject: str) -> str | None:
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        return f"{subject} can't be read ({error.strerror or type(error).__name__})."
    if header and header != SQLITE_HEADER:
        return (
            f"{subject} is not a SQLite database: point it at a new file (the bot creates it) "
            "or at the bot's own database."
        )
    return None


def _cannot_write(subject: str, where: Path, error: OSError) -> str:
    uid = os.geteuid()
    why = error.strerror or type(error).__name__
    return (
        f"{subject}: this process (uid {uid}) can't write {where} ({why}). Give that user the "
        f"directory (a Docker bind mount: `sudo chown -R {uid}:{uid}` the host's directory) "
        "or choose another path."
    )

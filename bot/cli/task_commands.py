"""`kling-bot tasks` and `kling-bot task N`: the tracked tasks, read from the database."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.cli.common import fail, load
from bot.cli.stored_tasks import list_stored, one_stored
from bot.cli.table import render_task, render_tasks
from bot.domain.lifecycle import TaskState
from bot.settings.database import shown_database


def cmd_tasks(args: argparse.Namespace) -> int:
    """List the tracked tasks in the database as a table, newest first."""
    read = _read(args, lambda database: list_stored(database, states=args.status, limit=args.limit))
    if read is None:
        return 2
    shown, listing = read
    if listing is None:
        print(
            f"No tasks: there is no database at {shown} (storage.database) yet; "
            "the bot or `kling-bot submit` creates it. Another config? Give --config PATH."
        )
        return 0
    if listing.tasks:
        print(render_tasks(listing.tasks, now=datetime.now(UTC)))
    elif args.status:
        states = " or ".join(s.value for s in args.status)
        print(f"No tasks in state {states} in {shown}.")
    else:
        print(f"No tasks yet in {shown}.")
    if listing.other_endings:
        counts = ", ".join(f"{n} {state.value}" for state, n in listing.other_endings.items())
        every = ",".join(s.value for s in (*args.status, *listing.other_endings))
        print(f"Also ended without a video: {counts} (--status {every} lists them too).")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """One task in full, with its history."""
    read = _read(args, lambda database: one_stored(database, args.id))
    if read is None:
        return 2
    shown, found = read
    if found is None:
        fail(f"There is no task {args.id} in {shown}.")
        return 1
    task, events = found
    print(render_task(task, events, now=datetime.now(UTC)))
    return 0


T = TypeVar("T")


def _read(
    args: argparse.Namespace, reader: Callable[[Path | str], Coroutine[Any, Any, T]]
) -> tuple[str, T] | None:
    """What `reader` finds in the configured database, and how to name that database; None
    (having said why) when the config or the database can't be read."""
    settings = load(args)
    if settings is None:
        return None
    shown = shown_database(settings.storage.database)
    try:
        return shown, asyncio.run(reader(settings.storage.database))
    except UNREADABLE as exc:
        fail(unreadable(shown, exc))
        return None


# An SQLite file that is not a kling-bot database; a PostgreSQL server that does not answer or
# refuses the login (the backend's message names it with the password masked).
UNREADABLE = (sqlite3.DatabaseError, ConnectionError)


def unreadable(shown: str, exc: Exception) -> str:
    """Why the database could not be read, without its password."""
    if isinstance(exc, ConnectionError):
        return f"{str(exc)[:1].upper()}{str(exc)[1:]} (storage.database)."
    return f"{shown} can't be read as a kling-bot database: {exc}"


def task_states(text: str) -> list[TaskState]:
    """`--status failed,rejected` → states; a clear refusal listing the states otherwise."""
    states = []
    for part in (p.strip() for p in text.split(",")):
        try:
            states.append(TaskState(part))
        except ValueError:
            allowed = ", ".join(s.value for s in TaskState)
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a task state: use one of {allowed} (or several, comma-separated)"
            ) from None
    return states


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value

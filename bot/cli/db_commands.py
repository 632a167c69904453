"""`kling-bot db backup PATH` (SQLite) and `kling-bot db copy --to postgresql://…` (moving up)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.cli.common import add_config_option, fail, load
from bot.domain.credentials import mask_passwords
from bot.domain.logs import PASSWORD_ENV
from bot.engine.assembly import EngineBusy, engine_lock
from bot.settings.database import check_postgresql_url, shown_database, without_password
from bot.store.backup import BackupError, backup_database
from bot.store.copy import CopyError, TableCopied, copy_to_postgresql


def cmd_db_backup(args: argparse.Namespace) -> int:
    """Copy the database with SQLite's online backup API (the bot may keep running)."""
    settings = load(args)
    if settings is None:
        return 2
    database = settings.storage.database
    if not isinstance(database, Path):
        fail(
            "kling-bot db backup copies an SQLite file; storage.database is a PostgreSQL server, "
            "which pg_dump backs up while the bot runs: "
            f"pg_dump --format=custom --file={args.path} '{without_password(database)}' "
            f"(the password from {PASSWORD_ENV} or ~/.pgpass; pg_restore puts it back)."
        )
        return 2
    if "://" in str(args.path):
        fail("PATH is where the SQLite copy goes, a file path, not a URL.")
        return 2
    try:
        done = asyncio.run(backup_database(database, Path(args.path), overwrite=args.overwrite))
    except BackupError as exc:
        fail(exc.member_message)
        return 1
    print(f"✓ Backed up {database} to {done.path} ({done.size_bytes:,} bytes, {done.tasks} tasks).")
    return 0


def cmd_db_copy(args: argparse.Namespace) -> int:
    """Copy the configured SQLite database into an empty PostgreSQL database, checked."""
    settings = load(args)
    if settings is None:
        return 2
    database = settings.storage.database
    target = _target_url(args.to)
    if target is None:
        return 2
    if not isinstance(database, Path):
        fail(
            f"storage.database is PostgreSQL already ({shown_database(database)}); db copy moves "
            "an SQLite database up: give --config the configuration that names the SQLite file."
        )
        return 2
    try:
        copied = asyncio.run(_copy(database, target))
    except (CopyError, EngineBusy) as exc:
        fail(exc.member_message)
        return 1
    shown = mask_passwords(target)
    for table in copied:
        print(f"  {table.table}: {table.rows:,} rows")
    print(
        f"✓ Copied {database} to {shown}; every row was read back and matches. Now set "
        f'storage.database = "{without_password(target)}" (the password in it or in '
        f"{PASSWORD_ENV}) and start the bot; every process of the bot needs the same "
        f"storage.media_dir ({settings.storage.media_dir.absolute()}), where the kept videos are."
    )
    return 0


def _target_url(text: str) -> str | None:
    """`--to` as a PostgreSQL URL without a password, or None after saying what is wrong."""
    try:
        url = check_postgresql_url(text.strip())
    except ValueError as exc:
        fail(f"--to {mask_passwords(text)} {exc}.")
        return None
    if mask_passwords(url) != url:
        fail(
            "--to has a password in it, and a command line is seen by every user of this machine "
            "and kept in the shell's history: give the URL without it "
            f"({without_password(url)}) and the password in {PASSWORD_ENV} or ~/.pgpass."
        )
        return None
    return url


async def _copy(database: Path, target: str) -> list[TableCopied]:
    # The copy must be the SQLite database's last word: no bot may run on it meanwhile.
    async with engine_lock(database):
        return await copy_to_postgresql(database, target)


def add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `db` command and its subcommands."""
    database = commands.add_parser("db", help="database maintenance: backup, copy to PostgreSQL")
    database_commands = database.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    backup = database_commands.add_parser(
        "backup",
        help="copy the SQLite database to PATH (safe while the bot runs)",
        description="A consistent copy of storage.database made with SQLite's online backup "
        "API, checked, as one self-contained file. The bot may keep running. (PostgreSQL: "
        "pg_dump.)",
    )
    backup.add_argument("path", metavar="PATH", help="where the copy goes")
    backup.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    add_config_option(backup)
    backup.set_defaults(handler=cmd_db_backup)
    copy = database_commands.add_parser(
        "copy",
        help="copy the SQLite database into an empty PostgreSQL database (stop the bot first)",
        description="Moving up from SQLite to PostgreSQL: every row of storage.database (an "
        "SQLite file) goes into a new, empty PostgreSQL database, ids kept, then each row is "
        "read back and compared. Stop the bot first. The password comes from "
        f"{PASSWORD_ENV} or ~/.pgpass, never from the command line.",
    )
    copy.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the PostgreSQL database, postgresql://user@host:5432/database",
    )
    add_config_option(copy)
    copy.set_defaults(handler=cmd_db_copy)

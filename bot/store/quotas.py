"""The quota part of the store: the credit ledger, overrides and server settings.

The ledger is append-only: +credits when a task is accepted, the same amount back (once) when it
ends refunded, and a compensating row when a moderator resets a member. A refund counts in the
window of its charge, so a task charged yesterday and refunded today gives nothing extra today.
The rules deciding limits live in `bot/domain/quota.py`; this module stores and sums, and applies
the rules to the stored overrides inside the transaction that charges.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.domain.errors import QuotaExceeded
from bot.domain.quota import quota_check, resolve_limit, resolve_server_limit
from bot.domain.quota_refusals import (
    credits_refusal,
    member_blocked,
    member_in_flight,
    server_blocked,
    server_budget_refusal,
    server_in_flight,
)
from bot.domain.records import (
    GuildSettings,
    LedgerEntry,
    NewTask,
    OverrideTarget,
    QuotaCheck,
    QuotaOverride,
    QuotaTerms,
    QuotaWindow,
    ServerBudgetCheck,
)
from bot.store.sql import Backend, Session, count, from_db_time, to_db_time

_LEDGER_COLUMNS = "id, guild_id, user_id, task_id, kind, credits, at, counts_at"
_OVERRIDE_COLUMNS = "guild_id, target_kind, target_id, credit_limit, quota_window, updated_at"
_SETTINGS_COLUMNS = (
    "guild_id, default_limit, default_unlimited, quota_window, moderator_role_ids, server_limit, "
    "server_unlimited, server_window"
)
_UPSERT_SETTINGS = (
    f"INSERT INTO guild_settings ({_SETTINGS_COLUMNS}, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_SETTINGS_COLUMNS.split(", ")[1:], "updated_at"))
)
_SUM_CREDITS = (
    "SELECT COALESCE(SUM(credits), 0) FROM quota_ledger "
    "WHERE guild_id = ? AND user_id = ? AND counts_at >= ?"
)
# The whole server's spending: charges and refunds, not a moderator's reset of one member.
_SUM_SERVER = (
    "SELECT COALESCE(SUM(credits), 0) FROM quota_ledger "
    "WHERE guild_id = ? AND counts_at >= ? AND kind != 'reset'"
)
# Charges of tasks still running: they end in a kept charge or a refund, never both.
_SUM_RESERVED = (
    "SELECT COALESCE(SUM(l.credits), 0) FROM quota_ledger AS l JOIN tasks AS t ON t.id = l.task_id "
    "WHERE l.guild_id = ? AND l.user_id = ? AND l.counts_at >= ? AND l.kind = 'charge' "
    "AND t.finished_at IS NULL"
)
_INSERT_CHARGE = (
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "VALUES (?, ?, ?, 'charge', ?, ?, ?)"
)
# Mirrors the task's charge, if it was charged at all. The conflict clause names the partial
# unique index on (task_id, kind): a second refund of the same task is not written.
_INSERT_REFUND = (
    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, counts_at) "
    "SELECT guild_id, user_id, task_id, 'refund', -credits, ?, counts_at FROM quota_ledger "
    "WHERE task_id = ? AND kind = 'charge' "
    "ON CONFLICT (task_id, kind) WHERE task_id IS NOT NULL DO NOTHING"
)


class QuotaBook:
    """Quota ledger and settings (a part of `SqlStore`)."""

    _sql: Backend

    async def credits_used(self, guild_id: int, user_id: int, since: datetime) -> int:
        """Net credits of the member's ledger rows counting at or after `since`."""
        async with self._sql.read() as session:
            return await count(session, _SUM_CREDITS, (guild_id, user_id, to_db_time(since)))

    async def in_flight(self, guild_id: int, user_id: int | None = None) -> int:
        """Unfinished tasks of a member, or of the server when `user_id` is None."""
        async with self._sql.read() as session:
            return await _unfinished(session, guild_id, user_id)

    async def refund_totals(self) -> tuple[int, int]:
        """Refunds ever written, and the credits they gave back."""
        async with self._sql.read() as session:
            row = await session.one(
                "SELECT COUNT(*), COALESCE(-SUM(credits), 0) FROM quota_ledger "
                "WHERE kind = 'refund'"
            )
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    async def ledger_for_task(self, task_id: int) -> list[LedgerEntry]:
        """The task's charge and refund rows (at most one of each), oldest first."""
        async with self._sql.read() as session:
            rows = await session.all(
                f"SELECT {_LEDGER_COLUMNS} FROM quota_ledger WHERE task_id = ? ORDER BY id",
                (task_id,),
            )
        return [
            LedgerEntry(
                id=r["id"],
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                task_id=r["task_id"],
                kind=r["kind"],
                credits=r["credits"],
                at=from_db_time(r["at"]),
                counts_at=from_db_time(r["counts_at"]),
            )
            for r in rows
        ]

    async def reset_usage(
        self, guild_id: int, user_id: int, *, since: datetime, now: datetime
    ) -> int:
        """Forgive the member's finished use since `since` with one 'reset' row; returns credits.

        Charges of unfinished tasks stay: each still ends in a refund or a kept charge, and
        forgiving it as well would let that later refund push the member's use below zero.
        """
        if since > now:
            raise ValueError("a reset covers a window that has started: since must be ≤ now")
        start, at = to_db_time(since), to_db_time(now)
        async with self._sql.write(lock=guild_id) as session:
            used = await count(session, _SUM_CREDITS, (guild_id, user_id, start))
            reserved = await count(session, _SUM_RESERVED, (guild_id, user_id, start))
            forgiven = used - reserved
            if forgiven > 0:
                await session.run(
                    "INSERT INTO quota_ledger (guild_id, user_id, task_id, kind, credits, at, "
                    "counts_at) VALUES (?, ?, NULL, 'reset', ?, ?, ?)",
                    (guild_id, user_id, -forgiven, at, at),
                )
        return max(forgiven, 0)

    async def set_override(
        self,
        guild_id: int,
        target_kind: OverrideTarget,
        target_id: int,
        *,
        limit: int | None,
        window: QuotaWindow | None = None,
        now: datetime,
    ) -> QuotaOverride:
        """Create or replace the limit of a member or role (None = unlimited, 0 = blocked)."""
        if limit is not None and limit < 0:
            raise ValueError(f"a limit can't be negative ({limit})")
        async with self._sql.write() as session:
            await session.run(
                f"INSERT INTO quota_overrides ({_OVERRIDE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, target_kind, target_id) DO UPDATE SET "
                "credit_limit = excluded.credit_limit, quota_window = excluded.quota_window, "
                "updated_at = excluded.updated_at",
                (guild_id, target_kind, target_id, limit, window, to_db_time(now)),
            )
        return QuotaOverride(guild_id, target_kind, target_id, limit, window, now)

    async def clear_override(
        self, guild_id: int, target_kind: OverrideTarget, target_id: int
    ) -> bool:
        """Remove an override; False when there was none."""
        async with self._sql.write() as session:
            removed = await session.run(
                "DELETE FROM quota_overrides "
                "WHERE guild_id = ? AND target_kind = ? AND target_id = ?",
                (guild_id, target_kind, target_id),
            )
        return removed > 0

    async def list_overrides(self, guild_id: int) -> list[QuotaOverride]:
        """Every override in a server: members first, then roles, each by id."""
        async with self._sql.read() as session:
            return await _overrides(session, guild_id)

    async def get_guild_settings(self, guild_id: int) -> GuildSettings:
        """A server's settings; all None/empty when it never set any."""
        async with self._sql.read() as session:
            return await _guild_settings(session, guild_id)

    async def set_guild_settings(self, settings: GuildSettings, *, now: datetime) -> None:
        """Create or replace a server's settings as a whole."""
        limit, server = settings.default_limit, settings.server_limit
        for value in (limit, server):
            if isinstance(value, int) and value < 0:
                raise ValueError(f"a limit can't be negative ({value})")
        async with self._sql.write() as session:
            await session.run(
                f"INSERT INTO guild_settings ({_SETTINGS_COLUMNS}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                + ", ".join(
                    f"{c} = excluded.{c}"
                    for c in (*_SETTINGS_COLUMNS.split(", ")[1:], "updated_at")
                ),
                (
                    settings.guild_id,
                    None if limit == "unlimited" else limit,
                    int(limit == "unlimited"),
                    settings.window,
                    json.dumps(list(settings.moderator_role_ids)),
                    None if server == "unlimited" else server,
                    int(server == "unlimited"),
                    settings.server_window,
                    to_db_time(now),
                ),
            )

    async def server_usage(self, guild_id: int, since: datetime) -> int:
        """Net credits the whole server spent since `since` (charges less refunds; a moderator's
        reset of a member forgives their quota, not the server's bill)."""
        async with self._sql.read() as session:
            return await count(session, _SUM_SERVER, (guild_id, to_db_time(since)))

    async def top_spenders(
        self, guild_id: int, since: datetime, *, limit: int = 5
    ) -> list[tuple[int, int]]:
        """The members who spent the most of the server's budget since `since`: (user, credits)."""
        async with self._sql.read() as session:
            rows = await session.all(
                "SELECT user_id, SUM(credits) AS spent FROM quota_ledger "
                "WHERE guild_id = ? AND counts_at >= ? AND kind != 'reset' "
                "GROUP BY user_id HAVING SUM(credits) > 0 ORDER BY spent DESC, user_id LIMIT ?",
                (guild_id, to_db_time(since), limit),
            )
        return [(int(r["user_id"]), int(r["spent"])) for r in rows]


# -- used inside the task part's transactions (the write lock is held) ---------------------------


async def resolve_quota(
    session: Session, new: NewTask, quota: QuotaCheck | QuotaTerms, now: datetime
) -> QuotaCheck:
    """The limits to enforce on `new`, from the overrides as they are in this transaction."""
    if isinstance(quota, QuotaCheck):
        return quota
    assert new.guild_id is not None and new.user_id is not None  # NewTask ensures it
    guild = await _guild_settings(session, new.guild_id)
    resolved = resolve_limit(
        config_limit=quota.config_limit,
        config_window=quota.config_window,
        guild=guild,
        overrides=await _overrides(session, new.guild_id),
        user_id=new.user_id,
        role_ids=quota.role_ids,
    )
    server = resolve_server_limit(
        config_limit=quota.config_server_limit, config_window=quota.config_window, guild=guild
    )
    return quota_check(
        resolved,
        now,
        max_in_flight_per_member=quota.max_in_flight_per_member,
        max_in_flight_per_server=quota.max_in_flight_per_server,
        server=server,
    )


async def check_quota(session: Session, new: NewTask, quota: QuotaCheck) -> int | None:
    """Raise QuotaExceeded when the member may not start `new` now; else return the credits
    the member has left once it is charged (None: no limit)."""
    assert new.guild_id is not None and new.user_id is not None  # NewTask ensures it
    if quota.limit == 0:
        raise QuotaExceeded(member_blocked())
    left = None
    if quota.limit is not None:
        start = to_db_time(quota.window_start)
        used = await count(session, _SUM_CREDITS, (new.guild_id, new.user_id, start))
        if used + new.cost > quota.limit:
            raise QuotaExceeded(credits_refusal(quota, used, new.cost))
        left = quota.limit - used - new.cost
    if quota.server is not None:
        await _check_server_budget(session, new, quota.server)
    member_cap, server_cap = quota.max_in_flight_per_member, quota.max_in_flight_per_server
    if member_cap is not None:
        running = await _unfinished(session, new.guild_id, new.user_id)
        if running >= member_cap:
            raise QuotaExceeded(member_in_flight(running, member_cap))
    if server_cap is not None:
        running = await _unfinished(session, new.guild_id, None)
        if running >= server_cap:
            raise QuotaExceeded(server_in_flight(running, server_cap))
    return left


async def charge(session: Session, new: NewTask, task_id: int, at: str) -> None:
    """Write the task's charge (with the task, in the same transaction)."""
    await session.run(_INSERT_CHARGE, (new.guild_id, new.user_id, task_id, new.cost, at, at))


async def refund(session: Session, task_id: int, at: str) -> None:
    """Give back the task's charge, once (a second refund is not written)."""
    await session.run(_INSERT_REFUND, (at, task_id))


async def _check_server_budget(session: Session, new: NewTask, budget: ServerBudgetCheck) -> None:
    """Raise QuotaExceeded when the whole server's budget can't cover `new`."""
    if budget.limit == 0:
        raise QuotaExceeded(server_blocked())
    spent = await count(session, _SUM_SERVER, (new.guild_id, to_db_time(budget.window_start)))
    if spent + new.cost > budget.limit:
        raise QuotaExceeded(server_budget_refusal(budget, spent, new.cost))


async def _unfinished(session: Session, guild_id: int, user_id: int | None) -> int:
    where, params = "guild_id = ?", [guild_id]
    if user_id is not None:
        where, params = "guild_id = ? AND user_id = ?", [guild_id, user_id]
    # `finished_at IS NULL` matches the partial index of unfinished tasks.
    return await count(
        session, f"SELECT COUNT(*) FROM tasks WHERE finished_at IS NULL AND {where}", params
    )


async def _overrides(session: Session, guild_id: int) -> list[QuotaOverride]:
    rows = await session.all(
        f"SELECT {_OVERRIDE_COLUMNS} FROM quota_overrides WHERE guild_id = ? "
        "ORDER BY target_kind, target_id",
        (guild_id,),
    )
    return [
        QuotaOverride(
            guild_id=r["guild_id"],
            target_kind=r["target_kind"],
            target_id=r["target_id"],
            limit=r["credit_limit"],
            window=r["quota_window"],
            updated_at=from_db_time(r["updated_at"]),
        )
        for r in rows
    ]


async def _guild_settings(session: Session, guild_id: int) -> GuildSettings:
    row = await session.one(
        f"SELECT {_SETTINGS_COLUMNS} FROM guild_settings WHERE guild_id = ?", (guild_id,)
    )
    if row is None:
        return GuildSettings(guild_id)
    return GuildSettings(
        guild_id=guild_id,
        default_limit="unlimited" if row["default_unlimited"] else row["default_limit"],
        window=row["quota_window"],
        moderator_role_ids=tuple(int(i) for i in json.loads(row["moderator_role_ids"])),
        server_limit="unlimited" if row["server_unlimited"] else row["server_limit"],
        server_window=row["server_window"],
    )

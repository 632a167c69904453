"""The element library side of the SQLite store: each server's named Kling elements.

A name is unique per server whatever its case (the bot case-folds it into `name_key`).
"""

from __future__ import annotations

from bot.domain.records import LibraryElement
from bot.store.database import SqliteDatabase, from_db_time, to_db_time


class SqliteElements(SqliteDatabase):
    """The element library on the store's database (a base of `SqliteStore`)."""

    async def add_element(self, element: LibraryElement) -> bool:
        """Add a named element to the server's library; False when the name is taken."""
        async with self._write():
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO elements "
                "(guild_id, name_key, name, element_id, added_by, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    element.guild_id,
                    element.name.casefold(),
                    element.name,
                    element.element_id,
                    element.added_by,
                    to_db_time(element.added_at),
                ),
            )
        return cursor.rowcount > 0

    async def remove_element(self, guild_id: int, name: str) -> LibraryElement | None:
        """Remove an element by name (any case); the removed element, or None."""
        async with self._write():
            found = await self._elements(guild_id, name.casefold())
            if found:
                await self._db.execute(
                    "DELETE FROM elements WHERE guild_id = ? AND name_key = ?",
                    (guild_id, name.casefold()),
                )
        return found[0] if found else None

    async def list_elements(self, guild_id: int) -> list[LibraryElement]:
        """The server's library, by name."""
        async with self._lock:
            return await self._elements(guild_id)

    async def _elements(self, guild_id: int, name_key: str | None = None) -> list[LibraryElement]:
        sql = "SELECT name, element_id, added_by, added_at FROM elements WHERE guild_id = ?"
        params: list[object] = [guild_id]
        if name_key is not None:
            sql += " AND name_key = ?"
            params.append(name_key)
        rows = await self._all(sql + " ORDER BY name_key", params)
        return [
            LibraryElement(
                guild_id=guild_id,
                name=r["name"],
                element_id=int(r["element_id"]),
                added_by=int(r["added_by"]),
                added_at=from_db_time(r["added_at"]),
            )
            for r in rows
        ]

"""The element library part of the store: each server's named Kling elements.

A name is unique per server whatever its case (the bot case-folds it into `name_key`).
"""

from __future__ import annotations

from bot.domain.records import LibraryElement
from bot.store.sql import Backend, Session, from_db_time, to_db_time


class ElementLibrary:
    """The element library (a part of `SqlStore`)."""

    _sql: Backend

    async def add_element(self, element: LibraryElement) -> bool:
        """Add a named element to the server's library; False when the name is taken."""
        async with self._sql.write() as session:
            added = await session.run(
                "INSERT INTO elements (guild_id, name_key, name, element_id, added_by, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    element.guild_id,
                    element.name.casefold(),
                    element.name,
                    element.element_id,
                    element.added_by,
                    to_db_time(element.added_at),
                ),
            )
        return added > 0

    async def remove_element(self, guild_id: int, name: str) -> LibraryElement | None:
        """Remove an element by name (any case); the removed element, or None."""
        async with self._sql.write() as session:
            found = await _elements(session, guild_id, name.casefold())
            if found:
                await session.run(
                    "DELETE FROM elements WHERE guild_id = ? AND name_key = ?",
                    (guild_id, name.casefold()),
                )
        return found[0] if found else None

    async def list_elements(self, guild_id: int) -> list[LibraryElement]:
        """The server's library, by name."""
        async with self._sql.read() as session:
            return await _elements(session, guild_id)


async def _elements(
    session: Session, guild_id: int, name_key: str | None = None
) -> list[LibraryElement]:
    sql = "SELECT name, element_id, added_by, added_at FROM elements WHERE guild_id = ?"
    params: list[object] = [guild_id]
    if name_key is not None:
        sql += " AND name_key = ?"
        params.append(name_key)
    rows = await session.all(sql + " ORDER BY name_key", params)
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

"""The element library part of the store: each server's named Kling elements.

A name is unique per server whatever its case (the bot case-folds it into `name_key`).
"""

from __future__ import annotations

from bot.domain.records import LibraryElement
from bot.store.sql import Backend, Row, Session, from_db_time, to_db_time


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
        """Remove an element by name (any case); the removed element, or None (also when
        another removal of the same name got there first)."""
        async with self._sql.write() as session:
            rows = await session.all(
                "DELETE FROM elements WHERE guild_id = ? AND name_key = ? "
                "RETURNING name, element_id, added_by, added_at",
                (guild_id, name.casefold()),
            )
        return _element(guild_id, rows[0]) if rows else None

    async def list_elements(self, guild_id: int) -> list[LibraryElement]:
        """The server's library, by name."""
        async with self._sql.read() as session:
            return await _elements(session, guild_id)


async def _elements(session: Session, guild_id: int) -> list[LibraryElement]:
    rows = await session.all(
        "SELECT name, element_id, added_by, added_at FROM elements WHERE guild_id = ? "
        "ORDER BY name_key",
        (guild_id,),
    )
    return [_element(guild_id, r) for r in rows]


def _element(guild_id: int, row: Row) -> LibraryElement:
    return LibraryElement(
        guild_id=guild_id,
        name=row["name"],
        element_id=int(row["element_id"]),
        added_by=int(row["added_by"]),
        added_at=from_db_time(row["added_at"]),
    )

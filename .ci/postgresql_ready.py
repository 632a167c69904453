#!/usr/bin/env python3
"""Fail early, in one sentence, when the PostgreSQL server the tests were given does not answer.

CI runs the store's tests on SQLite and on the server named by KLING_BOT_TEST_DATABASE_URL; a
server that is down would otherwise show as dozens of failed tests. The password is masked.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from bot.domain.credentials import mask_passwords

ENV = "KLING_BOT_TEST_DATABASE_URL"


async def answers(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    await conn.close()


def main() -> int:
    url = os.environ.get(ENV, "")
    if not url:
        sys.exit(f"CI: {ENV} is not set: name the PostgreSQL server the tests may use.")
    try:
        asyncio.run(answers(url))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        sys.exit(
            f"CI: cannot connect to the PostgreSQL server at {mask_passwords(url)} ({ENV}): "
            f"{exc}. Start it, or point the variable at one the tests may use."
        )
    print(f"PostgreSQL at {mask_passwords(url)} answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Postgres wiring: the pool and a transaction helper."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        # A dead server must not hang a request: fail fast and let the caller answer 503.
        timeout=5,
        command_timeout=15,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        yield conn

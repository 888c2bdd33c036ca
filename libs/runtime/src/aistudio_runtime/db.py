"""Postgres wiring: the pool and a transaction helper."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import asyncpg


class Database(Protocol):
    """Anything that hands out the service's pool once it has started (a ServiceRuntime, or a test's)."""

    @property
    def pool(self) -> asyncpg.Pool: ...


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

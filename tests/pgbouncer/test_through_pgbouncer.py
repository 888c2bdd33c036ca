"""What the services do with Postgres works through pgbouncer in transaction mode: the pool with
asyncpg's statement cache off, transaction-scoped advisory locks, NOTIFY inside a transaction, and
LISTEN and the migrations on DATABASE_DIRECT_URL."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from faststream.nats import NatsBroker

from aistudio_runtime.db import create_pool
from aistudio_runtime.service import ServiceRuntime
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..support.services import common_env, running
from .conftest import Pgbouncer

pytestmark = pytest.mark.integration

PATIENCE_SECONDS = 30.0


async def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE_SECONDS}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def pool(pgbouncer: Pgbouncer) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(pgbouncer.url, min_size=2, max_size=12, statement_cache_size=0)
    yield pool
    await pool.close()


async def test_many_concurrent_parameterised_queries_succeed_with_the_statement_cache_off(
    pool: asyncpg.Pool,
) -> None:
    async def query(n: int) -> int:
        async with pool.acquire() as conn:
            # A different text each time, so a named statement could never be reused by luck.
            value = await conn.fetchval(f"SELECT $1::int + {n % 7} + 0 * pg_backend_pid()", n)
            return int(value)

    results = await asyncio.gather(*(query(n) for n in range(300)))

    assert results == [n + n % 7 for n in range(300)]


async def test_a_transaction_scoped_advisory_lock_holds_until_commit_through_pgbouncer(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock(4242)")
        async with pool.acquire() as other:
            assert await other.fetchval("SELECT pg_try_advisory_xact_lock(4242)") is False
    async with pool.acquire() as other, other.transaction():
        assert await other.fetchval("SELECT pg_try_advisory_xact_lock(4242)") is True


async def test_a_notify_sent_in_a_transaction_through_pgbouncer_reaches_the_runtimes_direct_listener(
    pool: asyncpg.Pool, pgbouncer: Pgbouncer
) -> None:
    settings = UsageSettings(**common_env("nats://127.0.0.1:1", pgbouncer.url))
    assert settings.database_direct_url == pgbouncer.direct_url and settings.db_statement_cache_size == 0
    runtime = ServiceRuntime(settings, "usage", NatsBroker())
    heard: list[str | None] = []
    listener = await runtime.listen("pgbouncer_test", heard.append)
    try:
        assert listener.connected and heard == [None]  # (re)connected: "look again"
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_notify('pgbouncer_test', 'committed')")
        await _wait_until(lambda: "committed" in heard, "the notification was heard")
    finally:
        await listener.close()


async def test_a_service_migrating_at_start_behind_pgbouncer_leaves_no_advisory_lock_behind(
    nats_url: str, pgbouncer: Pgbouncer
) -> None:
    settings = UsageSettings(**common_env(nats_url, pgbouncer.url), migrate_on_start=True)
    async with running(create_usage(settings)):
        pass

    conn = await asyncpg.connect(pgbouncer.direct_url)
    try:
        held = await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        versions = await conn.fetchval("SELECT count(*) FROM usage.schema_migrations")
    finally:
        await conn.close()
    assert held == 0
    assert versions > 0

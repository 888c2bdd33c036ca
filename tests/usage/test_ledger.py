"""The quota ledger against a real Postgres."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from aistudio_contracts import Plan
from usage.ledger import Ledger

pytestmark = pytest.mark.integration


class _Db:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=20)
    assert pool
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> _Clock:
    return _Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(pool: asyncpg.Pool, clock: _Clock) -> Ledger:
    return Ledger(_Db(pool), free_monthly_limit=10, clock=clock)


async def test_fifty_concurrent_reservations_with_ten_left_grant_exactly_ten(ledger: Ledger) -> None:
    results = await asyncio.gather(*(ledger.reserve(uuid4(), "alice") for _ in range(50)))
    assert sum(granted for granted, _ in results) == 10
    summary = await ledger.summary("alice")
    assert (summary.reserved, summary.used, summary.remaining) == (10, 0, 0)


async def test_a_retried_reservation_takes_one_unit(ledger: Ledger) -> None:
    request_id = uuid4()
    results = await asyncio.gather(*(ledger.reserve(request_id, "bob") for _ in range(5)))
    assert all(granted for granted, _ in results)
    assert (await ledger.summary("bob")).reserved == 1


async def test_a_failed_generation_gives_its_unit_back_once(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "carol")
    assert await ledger.release(request_id)
    assert not await ledger.release(request_id)
    assert not await ledger.commit(request_id)
    summary = await ledger.summary("carol")
    assert (summary.used, summary.reserved, summary.remaining) == (0, 0, 10)


async def test_a_completed_generation_counts_once(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "dave")
    assert await ledger.commit(request_id)
    assert not await ledger.commit(request_id)
    assert not await ledger.release(request_id)
    summary = await ledger.summary("dave")
    assert (summary.used, summary.reserved, summary.remaining) == (1, 0, 9)


async def test_the_month_rolls_over_at_midnight_utc_on_the_first(ledger: Ledger, clock: _Clock) -> None:
    clock.now = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    for _ in range(10):
        granted, _ = await ledger.reserve(uuid4(), "erin")
        assert granted
    assert not (await ledger.reserve(uuid4(), "erin"))[0]
    clock.now = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)
    granted, summary = await ledger.reserve(uuid4(), "erin")
    assert granted
    assert summary.period_start == datetime(2026, 12, 1, tzinfo=UTC)
    assert summary.period_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert summary.remaining == 9


async def test_a_pro_user_is_never_limited(ledger: Ledger) -> None:
    await ledger.set_plan("frank", Plan.PRO)
    results = await asyncio.gather(*(ledger.reserve(uuid4(), "frank") for _ in range(30)))
    assert all(granted for granted, _ in results)
    summary = await ledger.summary("frank")
    assert summary.limit is None and summary.remaining is None and summary.reserved == 30


async def test_a_downgrade_mid_month_keeps_what_was_used(ledger: Ledger) -> None:
    await ledger.set_plan("gina", Plan.PRO)
    for _ in range(12):
        request_id = uuid4()
        await ledger.reserve(request_id, "gina")
        await ledger.commit(request_id)
    summary = await ledger.set_plan("gina", Plan.FREE)
    assert (summary.used, summary.limit, summary.remaining) == (12, 10, 0)
    assert not (await ledger.reserve(uuid4(), "gina"))[0]


async def test_stale_reservations_are_released(ledger: Ledger, clock: _Clock) -> None:
    await ledger.reserve(uuid4(), "hank")
    clock.now += timedelta(hours=1)
    assert await ledger.release_stale(timedelta(minutes=30)) == 1
    assert (await ledger.summary("hank")).reserved == 0

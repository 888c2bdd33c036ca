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


async def test_a_verdict_not_charged_gives_the_unit_back_once(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "carol")
    assert await ledger.settle(request_id, charged=False)
    assert not await ledger.settle(request_id, charged=False)
    assert not await ledger.settle(request_id, charged=True)
    summary = await ledger.summary("carol")
    assert (summary.used, summary.reserved, summary.remaining) == (0, 0, 10)


async def test_a_verdict_charged_counts_once(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "dave")
    assert await ledger.settle(request_id, charged=True)
    assert not await ledger.settle(request_id, charged=True)
    assert not await ledger.settle(request_id, charged=False)
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
        await ledger.settle(request_id, charged=True)
    summary = await ledger.set_plan("gina", Plan.FREE)
    assert (summary.used, summary.limit, summary.remaining) == (12, 10, 0)
    assert not (await ledger.reserve(uuid4(), "gina"))[0]


async def test_a_reservation_expires_after_its_own_deadline_and_grace(ledger: Ledger, clock: _Clock) -> None:
    soon, later = uuid4(), uuid4()
    await ledger.reserve(soon, "hank", clock.now + timedelta(minutes=5))
    await ledger.reserve(later, "hank", clock.now + timedelta(hours=2))
    clock.now += timedelta(minutes=5)
    assert await ledger.expire_overdue(timedelta(minutes=1)) == 0  # past the deadline, not the grace
    clock.now += timedelta(minutes=2)
    assert await ledger.expire_overdue(timedelta(minutes=1)) == 1
    assert (await ledger.summary("hank")).reserved == 1
    clock.now += timedelta(hours=2)
    assert await ledger.expire_overdue(timedelta(minutes=1)) == 1
    assert (await ledger.summary("hank")).reserved == 0


async def test_a_reservation_without_a_deadline_expires_after_the_generation_timeout(
    ledger: Ledger, clock: _Clock
) -> None:
    await ledger.reserve(uuid4(), "ivan")
    clock.now += timedelta(seconds=1200) + timedelta(seconds=30)
    assert await ledger.expire_overdue(timedelta(minutes=1)) == 0
    clock.now += timedelta(minutes=1)
    assert await ledger.expire_overdue(timedelta(minutes=1)) == 1
    assert (await ledger.summary("ivan")).reserved == 0


async def test_a_verdict_after_expiry_still_decides_the_charge(ledger: Ledger, clock: _Clock) -> None:
    charged, refunded = uuid4(), uuid4()
    for request_id in (charged, refunded):
        await ledger.reserve(request_id, "jane", clock.now)
    clock.now += timedelta(hours=1)
    assert await ledger.expire_overdue(timedelta(minutes=10)) == 2
    assert await ledger.settle(charged, charged=True)
    assert await ledger.settle(refunded, charged=False)
    assert not await ledger.settle(charged, charged=True)
    summary = await ledger.summary("jane")
    assert (summary.used, summary.reserved) == (1, 0)


async def test_a_release_before_its_reserve_refuses_the_late_reserve(ledger: Ledger) -> None:
    request_id = uuid4()
    assert await ledger.withdraw(request_id, "kim")
    granted, summary = await ledger.reserve(request_id, "kim")
    assert not granted
    assert (summary.used, summary.reserved, summary.remaining) == (0, 0, 10)


async def test_a_retry_after_a_late_reserve_was_refused_gets_through(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.withdraw(request_id, "kim")
    assert not (await ledger.reserve(request_id, "kim"))[0]
    granted, summary = await ledger.reserve(request_id, "kim")
    assert granted and summary.reserved == 1


async def test_a_release_gives_a_held_unit_back_and_a_retry_with_the_same_id_takes_it_again(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "lena")
    assert await ledger.withdraw(request_id, "lena")
    assert not await ledger.withdraw(request_id, "lena")
    assert (await ledger.summary("lena")).reserved == 0
    granted, summary = await ledger.reserve(request_id, "lena")
    assert granted and (summary.used, summary.reserved) == (0, 1)
    assert (await ledger.reserve(request_id, "lena"))[0]  # a retry of the retry takes nothing more
    assert (await ledger.summary("lena")).reserved == 1


async def test_a_retry_after_a_release_is_refused_when_no_unit_remains(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "mia")
    await ledger.withdraw(request_id, "mia")
    for _ in range(10):
        assert (await ledger.reserve(uuid4(), "mia"))[0]
    assert not (await ledger.reserve(request_id, "mia"))[0]
    assert (await ledger.summary("mia")).reserved == 10


async def test_a_reserve_of_an_ended_generation_is_refused(ledger: Ledger) -> None:
    request_id = uuid4()
    await ledger.reserve(request_id, "nora")
    await ledger.settle(request_id, charged=False)
    assert not (await ledger.reserve(request_id, "nora"))[0]
    assert (await ledger.summary("nora")).reserved == 0


async def test_a_release_racing_its_reserve_never_leaves_a_unit_held(ledger: Ledger) -> None:
    for _ in range(20):
        request_id = uuid4()
        await asyncio.gather(ledger.reserve(request_id, "olga"), ledger.withdraw(request_id, "olga"))
    summary = await ledger.summary("olga")
    assert summary.reserved == 0


async def test_an_older_plan_change_never_overwrites_a_newer_one(ledger: Ledger, clock: _Clock) -> None:
    await ledger.set_plan("paul", Plan.PRO, clock.now)
    summary = await ledger.set_plan("paul", Plan.FREE, clock.now - timedelta(minutes=1))
    assert summary.plan is Plan.PRO
    assert (await ledger.set_plan("paul", Plan.FREE, clock.now + timedelta(minutes=1))).plan is Plan.FREE


async def test_a_plan_change_without_a_time_counts_as_now(ledger: Ledger, clock: _Clock) -> None:
    await ledger.set_plan("quinn", Plan.PRO, clock.now - timedelta(days=1))
    assert (await ledger.set_plan("quinn", Plan.FREE)).plan is Plan.FREE
    assert (await ledger.set_plan("quinn", Plan.PRO, clock.now - timedelta(hours=1))).plan is Plan.FREE

"""usage.reserve_units, the function the gateway's accept statement takes units through, against a
real Postgres: race-free at the limit, all or none for a batch, nothing written when refused, and
the ledger's lifecycle carrying on from what it took."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from aistudio_contracts import Plan
from usage.ledger import Ledger

pytestmark = pytest.mark.integration

DEADLINE = datetime.now(UTC) + timedelta(minutes=20)


class _Db:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=20)
    assert pool
    ledger = Ledger(_Db(pool), free_monthly_limit=10)
    await ledger.publish_rules()  # as the usage service does at start-up
    yield pool
    await ledger.publish_rules()  # a test that changed the rule leaves the usual one
    await pool.close()


@pytest.fixture
def ledger(pool: asyncpg.Pool) -> Ledger:
    return Ledger(_Db(pool), free_monthly_limit=10)


async def _take(pool: asyncpg.Pool, user: str, *request_ids: UUID) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT outcome, plan, free_limit FROM usage.reserve_units($1::uuid[], $2, $3)",
        list(request_ids) or [uuid4()],
        user,
        DEADLINE,
    )
    assert row is not None
    return row


async def _counters(pool: asyncpg.Pool, user: str) -> tuple[int, int, int]:
    """(used, reserved, reservation rows) of the user this month."""
    row = await pool.fetchrow(
        "SELECT COALESCE((SELECT used FROM usage.monthly_usage WHERE user_id = $1), 0) AS used,"
        " COALESCE((SELECT reserved FROM usage.monthly_usage WHERE user_id = $1), 0) AS reserved,"
        " (SELECT count(*) FROM usage.reservations WHERE user_id = $1) AS rows",
        user,
    )
    assert row is not None
    return row["used"], row["reserved"], row["rows"]


async def test_fifty_concurrent_accepts_with_ten_left_take_exactly_ten(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(*(_take(pool, "acc-ann") for _ in range(50)))
    outcomes = sorted(row["outcome"] for row in results)
    assert (outcomes.count("granted"), outcomes.count("refused")) == (10, 40)
    assert {row["free_limit"] for row in results} == {10}
    # A refusal wrote nothing: only the ten granted have a reservation.
    assert await _counters(pool, "acc-ann") == (0, 10, 10)


async def test_a_batch_that_does_not_fit_takes_none_of_its_units(pool: asyncpg.Pool) -> None:
    for _ in range(8):
        assert (await _take(pool, "acc-ben"))["outcome"] == "granted"
    refused = await _take(pool, "acc-ben", uuid4(), uuid4(), uuid4())
    assert (refused["outcome"], refused["free_limit"]) == ("refused", 10)
    assert await _counters(pool, "acc-ben") == (0, 8, 8)
    assert (await _take(pool, "acc-ben", uuid4(), uuid4()))["outcome"] == "granted"
    assert await _counters(pool, "acc-ben") == (0, 10, 10)


async def test_a_request_id_that_holds_its_unit_is_refused_whole_and_takes_nothing(pool: asyncpg.Pool) -> None:
    held = uuid4()
    assert (await _take(pool, "acc-cy", held))["outcome"] == "granted"
    # Its retry (the same Idempotency-Key, racing): the statement fails, its other id with it.
    with pytest.raises(asyncpg.UniqueViolationError):
        await _take(pool, "acc-cy", uuid4(), held)
    assert await _counters(pool, "acc-cy") == (0, 1, 1)


async def test_the_ledger_settles_a_unit_taken_on_accept(pool: asyncpg.Pool, ledger: Ledger) -> None:
    charged, not_charged = uuid4(), uuid4()
    await _take(pool, "acc-dee", charged)
    await _take(pool, "acc-dee", not_charged)
    assert (await ledger.settle(charged, charged=True)) is not None
    assert (await ledger.settle(not_charged, charged=False)) is not None
    summary = await ledger.summary("acc-dee")
    assert (summary.used, summary.reserved, summary.remaining) == (1, 0, 9)


async def test_an_id_a_previous_gateway_withdrew_is_taken_again(pool: asyncpg.Pool, ledger: Ledger) -> None:
    # A gateway of the previous release withdrew a reserve whose answer it lost (a tombstone), and
    # one took a unit, then withdrew it when its asset write failed: neither stored an asset.
    tombstoned, withdrawn = uuid4(), uuid4()
    await ledger.withdraw(tombstoned, "acc-eve")
    assert (await ledger.reserve(withdrawn, "acc-eve"))[0]
    await ledger.withdraw(withdrawn, "acc-eve")
    assert await _counters(pool, "acc-eve") == (0, 0, 2)
    # The client's retry with the same key reaches today's gateway: each takes its unit again.
    assert (await _take(pool, "acc-eve", tombstoned, withdrawn))["outcome"] == "granted"
    states = await pool.fetch("SELECT state FROM usage.reservations WHERE user_id = 'acc-eve'")
    assert [row["state"] for row in states] == ["reserved", "reserved"]
    assert await _counters(pool, "acc-eve") == (0, 2, 2)


async def test_a_pro_account_has_no_limit_and_its_plan_is_answered(pool: asyncpg.Pool, ledger: Ledger) -> None:
    await ledger.set_plan("acc-fay", Plan.PRO)
    results = [await _take(pool, "acc-fay") for _ in range(12)]
    assert {(row["outcome"], row["plan"], row["free_limit"]) for row in results} == {("granted", "pro", None)}
    assert await _counters(pool, "acc-fay") == (0, 12, 12)


async def test_the_limit_is_the_one_usage_stored(pool: asyncpg.Pool) -> None:
    await Ledger(_Db(pool), free_monthly_limit=3).publish_rules()
    outcomes = [(await _take(pool, "acc-gus"))["outcome"] for _ in range(4)]
    assert outcomes == ["granted", "granted", "granted", "refused"]


async def test_before_usage_ever_started_nothing_is_taken(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:  # no rule, in this transaction only: it is rolled back below
            await conn.execute("DELETE FROM usage.quota_rules")
            row = await conn.fetchrow(
                "SELECT outcome FROM usage.reserve_units(ARRAY[$1::uuid], 'acc-hal', $2)", uuid4(), DEADLINE
            )
            assert row is not None and row["outcome"] == "unavailable"
            assert await conn.fetchval("SELECT count(*) FROM usage.reservations WHERE user_id = 'acc-hal'") == 0
            assert await conn.fetchval("SELECT count(*) FROM usage.monthly_usage WHERE user_id = 'acc-hal'") == 0
        finally:
            await transaction.rollback()

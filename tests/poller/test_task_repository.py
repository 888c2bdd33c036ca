"""poller.tasks as its one writer applies the lifecycle: deadline, early callbacks, leases."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from poller.domain.task import CheckAgain
from poller.tasks import Tasks

from .conftest import Db, task_row, task_started, wait_for

pytestmark = pytest.mark.integration

HOUR = 3600.0


async def test_a_task_is_tracked_with_the_jobs_own_deadline_not_one_counted_from_task_started(db: Db) -> None:
    stamped = datetime.now(UTC) + timedelta(minutes=7)
    event = task_started("t-deadline", deadline_at=stamped)
    await Tasks(db).track(event, HOUR, timeout_seconds=1.0)
    row = await task_row(db, event.asset_id)
    assert row is not None and row["deadline_at"] == stamped


async def test_an_event_from_before_the_stamp_gets_the_deadline_from_its_own_time(db: Db) -> None:
    event = task_started("t-old")
    await Tasks(db).track(event, HOUR, timeout_seconds=90.0)
    row = await task_row(db, event.asset_id)
    assert row is not None and row["deadline_at"] == event.occurred_at + timedelta(seconds=90)


async def _due_now(db: Db, asset_id: object) -> bool:
    return bool(
        await db.pool.fetchval(
            "SELECT next_check_at <= clock_timestamp() FROM poller.tasks WHERE asset_id = $1", asset_id
        )
    )


async def test_a_callback_before_task_started_is_kept_and_makes_the_task_due_at_once_when_tracked(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-early")
    assert not await tasks.callback_arrived(event.asset_id, event.task_id)
    kept = await db.pool.fetchrow("SELECT * FROM poller.early_callbacks WHERE asset_id = $1", event.asset_id)
    assert kept is not None and kept["task_id"] == "t-early"

    await tasks.track(event, HOUR, timeout_seconds=HOUR)
    assert await _due_now(db, event.asset_id)
    assert await db.pool.fetchval("SELECT count(*) FROM poller.early_callbacks") == 0


async def test_without_a_callback_the_first_check_waits_for_its_schedule(db: Db) -> None:
    event = task_started("t-scheduled")
    await Tasks(db).track(event, HOUR, timeout_seconds=HOUR)
    assert not await _due_now(db, event.asset_id)


async def test_an_adopted_task_is_due_at_once(db: Db) -> None:
    event = task_started("t-adopted", adopted=True)
    await Tasks(db).track(event, HOUR, timeout_seconds=HOUR)
    assert await _due_now(db, event.asset_id)


async def test_a_callback_for_a_tracked_task_makes_it_due_and_keeps_nothing(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-tracked")
    await tasks.track(event, HOUR, timeout_seconds=HOUR)
    assert await tasks.callback_arrived(event.asset_id, event.task_id)
    assert await _due_now(db, event.asset_id)
    assert await db.pool.fetchval("SELECT count(*) FROM poller.early_callbacks") == 0


async def test_a_late_callback_for_a_finished_task_is_not_kept(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-done")
    await tasks.track(event, HOUR, timeout_seconds=HOUR)
    await db.pool.execute("UPDATE poller.tasks SET state = 'done', outcome = 'completed'")
    assert not await tasks.callback_arrived(event.asset_id, event.task_id)
    assert await db.pool.fetchval("SELECT count(*) FROM poller.early_callbacks") == 0


async def test_a_replica_never_claims_its_own_check_again_even_after_its_lease_ran_out(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-lease", adopted=True)
    await tasks.track(event, 0, timeout_seconds=HOUR)
    mine, other = uuid4(), uuid4()
    [claimed] = await tasks.claim_due(10, 0.05, mine)
    await wait_for(
        lambda: db.pool.fetchval("SELECT checking_until < clock_timestamp() FROM poller.tasks"), "the lease to run out"
    )

    assert await tasks.claim_due(10, HOUR, mine, exclude=[claimed.asset_id]) == []
    # While no one else has it, the owner may still renew its lease and end its check.
    assert await tasks.renew(claimed.asset_id, mine, HOUR)
    assert await tasks.claim_due(10, HOUR, other) == []


async def test_a_lease_taken_over_by_another_replica_is_no_longer_the_first_owners(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-takeover", adopted=True)
    await tasks.track(event, 0, timeout_seconds=HOUR)
    first, second = uuid4(), uuid4()
    await tasks.claim_due(10, 0.05, first)
    await wait_for(
        lambda: db.pool.fetchval("SELECT checking_until < clock_timestamp() FROM poller.tasks"), "the lease to run out"
    )
    [taken] = await tasks.claim_due(10, HOUR, second)

    assert not await tasks.renew(taken.asset_id, first, HOUR)
    assert not await tasks.check_again(taken.asset_id, first, CheckAgain(0.0))
    assert await tasks.check_again(taken.asset_id, second, CheckAgain(HOUR))
    row = await task_row(db, taken.asset_id)
    assert row is not None and row["lease_owner"] is None and row["checking_until"] is None


async def test_a_callback_during_a_check_makes_the_task_due_again_as_soon_as_the_check_ends(db: Db) -> None:
    tasks = Tasks(db)
    event = task_started("t-recheck", adopted=True)
    await tasks.track(event, 0, timeout_seconds=HOUR)
    owner = uuid4()
    await tasks.claim_due(10, HOUR, owner)
    assert await tasks.callback_arrived(event.asset_id, event.task_id)
    await tasks.check_again(event.asset_id, owner, CheckAgain(HOUR))
    assert await _due_now(db, event.asset_id)

"""The services delete rows that only record their past once older than RETENTION_DAYS."""

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import pytest

from aistudio_runtime.retention import INBOX, Pruner, Retention

pytestmark = pytest.mark.integration

KEEP = timedelta(days=30)
OLD = "now() - interval '40 days'"
RECENT = "now() - interval '20 days'"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


def pruner(pool: asyncpg.Pool, schema: str, *rules: Retention, batch_rows: int = 1000) -> Pruner:
    return Pruner(pool, schema, [INBOX, *rules], keep=KEEP, interval_seconds=3600, batch_rows=batch_rows)


async def add_inbox_row(pool: asyncpg.Pool, schema: str, age: str) -> None:
    await pool.execute(
        f"INSERT INTO {schema}.processed_events (consumer, event_id, processed_at) VALUES ('c', $1, {age})", uuid4()
    )


async def test_the_inbox_loses_only_rows_older_than_the_retention_in_batches(pool: asyncpg.Pool) -> None:
    for _ in range(5):
        await add_inbox_row(pool, "captioner", OLD)
    await add_inbox_row(pool, "captioner", RECENT)

    deleted = await pruner(pool, "captioner", batch_rows=2).prune_once()

    assert deleted == {"processed_events": 5}
    assert await pool.fetchval("SELECT count(*) FROM captioner.processed_events") == 1


async def test_the_change_feed_loses_only_old_changes(pool: asyncpg.Pool) -> None:
    for seq, age in enumerate((OLD, OLD, RECENT), start=1):
        await pool.execute(
            f"INSERT INTO gateway.asset_changes (user_id, seq, asset_id, changed_at) VALUES ('u', $1, $2, {age})",
            seq,
            uuid4(),
        )

    deleted = await pruner(pool, "gateway", Retention("asset_changes", by="changed_at")).prune_once()

    assert deleted["asset_changes"] == 2
    assert await pool.fetchval("SELECT count(*) FROM gateway.asset_changes") == 1


async def test_only_finished_jobs_are_pruned_however_old_an_unfinished_one_is(pool: asyncpg.Pool) -> None:
    rows = [("completed", OLD), ("failed", OLD), ("completed", RECENT), ("submitting", "NULL")]
    for state, finished in rows:
        await pool.execute(
            "INSERT INTO generator.jobs (asset_id, user_id, requested_provider, provider, media_type, state,"
            f" claimed_at, finished_at) VALUES ($1, 'u', 'kie-veo3', 'kie-veo3', 'video', $2, {OLD}, {finished})",
            uuid4(),
            state,
        )
    rule = Retention("jobs", by="finished_at", where="state IN ('completed', 'failed')")

    deleted = await pruner(pool, "generator", rule).prune_once()

    assert deleted["jobs"] == 2
    left = await pool.fetch("SELECT state FROM generator.jobs ORDER BY state")
    assert [row["state"] for row in left] == ["completed", "submitting"]


async def test_only_done_tasks_are_pruned(pool: asyncpg.Pool) -> None:
    for state, finished in (("done", OLD), ("done", RECENT), ("pending", "NULL")):
        await pool.execute(
            "INSERT INTO poller.tasks (asset_id, user_id, provider, media_type, prompt, task_id, state,"
            f" next_check_at, deadline_at, created_at, finished_at)"
            f" VALUES ($1, 'u', 'kie-veo3', 'video', 'p', 't', $2, now(), now(), {OLD}, {finished})",
            uuid4(),
            state,
        )

    deleted = await pruner(pool, "poller", Retention("tasks", by="finished_at", where="state = 'done'")).prune_once()

    assert deleted["tasks"] == 1
    assert await pool.fetchval("SELECT count(*) FROM poller.tasks") == 2


async def test_a_failing_table_does_not_spare_the_others(pool: asyncpg.Pool) -> None:
    await add_inbox_row(pool, "usage", OLD)

    deleted = await pruner(pool, "usage", Retention("no_such_table", by="at")).prune_once()

    assert deleted == {"processed_events": 1}


def test_a_rule_takes_only_plain_names() -> None:
    with pytest.raises(ValueError):
        Retention("jobs; DROP TABLE jobs", by="finished_at")

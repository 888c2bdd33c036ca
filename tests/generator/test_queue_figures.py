"""Queue position and start estimates for waiting KIE jobs: the generator tells each job's ticket
once and the queue's standing at most once a second; the figures follow from them for a known
backlog."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from aistudio_contracts import MediaType, QueueAdvanced, QueueJoined, estimated_start
from aistudio_runtime.migrations import upgrade
from generator.domain.fairness import FairShares
from generator.jobs import Jobs
from generator.queue_report import QueueReporter
from generator.ratelimit import SubmitRateLimiter

from .test_fair_queue import _enqueue, _Pool, _request, _serve

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_first_twenty_start_at_the_next_slot_and_each_next_twenty_one_cycle_later() -> None:
    slot = NOW + timedelta(seconds=3)
    figures = {p: estimated_start(p, slot, 20, 11.0, NOW) for p in (1, 20, 21, 40, 41, 200)}
    assert figures == {
        1: slot,
        20: slot,
        21: slot + timedelta(seconds=11),
        40: slot + timedelta(seconds=11),
        41: slot + timedelta(seconds=22),
        200: slot + timedelta(seconds=99),
    }


def test_a_start_is_never_estimated_in_the_past() -> None:
    assert estimated_start(1, NOW - timedelta(seconds=5), 20, 11.0, NOW) == NOW


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(database_url)
    try:
        await upgrade(conn, "generator")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def _outbox(pool: asyncpg.Pool, subject: str) -> list[dict[str, object]]:
    rows = await pool.fetch("SELECT payload FROM generator.outbox WHERE subject = $1 ORDER BY id", subject)
    return [json.loads(row["payload"]) for row in rows]


def _positions(tickets: dict[str, float], served_through: float) -> dict[str, int]:
    """What the catalog counts on a read: 1 + the waiting tickets ahead (ties in arrival order)."""
    waiting = [(ticket, n, asset) for n, (asset, ticket) in enumerate(tickets.items()) if ticket > served_through]
    return {asset: place for place, (_, _, asset) in enumerate(sorted(waiting), start=1)}


async def test_a_known_backlog_gives_each_waiting_job_its_place_and_start(pool: asyncpg.Pool) -> None:
    jobs = Jobs(_Pool(pool), FairShares(pro_weight=2.0), typical_seconds={MediaType.IMAGE: 40.0})
    limiter = SubmitRateLimiter(_Pool(pool), limit=20, window_seconds=10.0, margin_seconds=1.0)
    heavy = [_request("heavy", n) for n in range(30)]
    for request in heavy:
        await _enqueue(jobs, request)
    await _serve(jobs, 5)
    light = _request("light", 0)
    await _enqueue(jobs, light)

    joined = [QueueJoined.model_validate(payload) for payload in await _outbox(pool, QueueJoined.subject)]
    assert len(joined) == 31 and {event.typical_seconds for event in joined} == {40.0}
    tickets = {str(event.asset_id): event.ticket for event in joined}

    advanced = await QueueReporter(jobs, limiter).report()
    assert advanced is not None and advanced.served_through == 5.0
    places = _positions(tickets, advanced.served_through)
    # 25 heavy jobs wait; the newcomer is second, right behind the heavy job that shares its ticket.
    assert len(places) == 26
    assert places[str(light.asset_id)] == 2
    assert places[str(heavy[5].asset_id)] == 1 and places[str(heavy[29].asset_id)] == 26
    # No slot is taken, so the first twenty start now and the rest one cycle (11 s) later.
    now = datetime.now(UTC)
    start_last = estimated_start(26, advanced.next_slot_at, advanced.slots_per_cycle, advanced.cycle_seconds, now)
    assert advanced.cycle_seconds == 11.0
    assert timedelta(seconds=10) < start_last - now <= timedelta(seconds=12)


async def test_the_queue_is_reported_again_only_when_it_moved(pool: asyncpg.Pool) -> None:
    jobs = Jobs(_Pool(pool), FairShares())
    limiter = SubmitRateLimiter(_Pool(pool), limit=20, window_seconds=10.0, margin_seconds=1.0)
    reporter = QueueReporter(jobs, limiter)
    for n in range(3):
        await _enqueue(jobs, _request("heavy", n))
    assert await reporter.report() is not None
    assert await reporter.report() is None
    await _serve(jobs, 1)
    moved = await reporter.report()
    assert moved is not None and moved.served_through == 1.0
    assert [QueueAdvanced.model_validate(p).served_through for p in await _outbox(pool, QueueAdvanced.subject)] == [
        0.0,
        1.0,
    ]

"""Fair shares of KIE's account limit across users, against the real Postgres (and, for the
scenario of issue 17, the real NATS and the simulator on the HTTP wire)."""

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import nats
import pytest

from aistudio_contracts import GenerationRequested, MediaType, Plan, Provider
from aistudio_runtime.migrations import upgrade
from generator.app import create_app as create_generator
from generator.domain.fairness import FairShares, next_tag
from generator.jobs import Jobs
from generator.settings import GeneratorSettings
from provider_simulator import create_app as create_simulator

from ..support.services import common_env, running
from ..support.simulator import ServerThread, SimulatorAdmin, free_port, simulator_config

LIMIT = 20
WINDOW = 4.0  # KIE's 10 s, time-scaled by 1/2.5: the per-slot overhead (~0.1 s on a busy machine) stays well under 5 %
MARGIN = 0.02


class _Pool:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


def _request(user: str, n: int, *, plan: Plan | None = None, provider: Provider = Provider.KIE_4O_IMAGE) -> Any:
    media = MediaType.IMAGE
    return GenerationRequested(
        correlation_id=(asset := uuid4()),
        asset_id=asset,
        user_id=user,
        provider=provider,
        media_type=media,
        prompt=f"{user} job {n}",
        aspect_ratio="1:1",
        plan=plan,
        deadline_at=datetime.now(UTC) + timedelta(minutes=10),
    )


@pytest.fixture
async def jobs(database_url: str) -> AsyncIterator[Jobs]:
    conn = await asyncpg.connect(database_url)
    try:
        await upgrade(conn, "generator")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield Jobs(_Pool(pool), FairShares(pro_weight=2.0))
    finally:
        await pool.close()


async def _enqueue(jobs: Jobs, request: GenerationRequested) -> None:
    assert request.deadline_at is not None
    assert await jobs.enqueue(request, request.deadline_at)


async def _serve(jobs: Jobs, count: int) -> list[str]:
    """Claim and start KIE work `count` times one job at a time, as the limiter would let it out:
    whose jobs were sent."""
    served: list[str] = []
    for _ in range(count):
        claimed = await jobs.claim_due(1, 30.0, kie_slots=1)
        assert len(claimed) == 1
        assert await jobs.start(claimed[0], claimed[0].provider)
        served.append(claimed[0].request.user_id)
    return served


# --- the rules, without I/O


def test_a_pro_users_tag_advances_by_half_and_a_free_users_by_one() -> None:
    shares = FairShares(pro_weight=2.0)
    assert shares.increment(Plan.PRO) == 0.5
    assert shares.increment(Plan.FREE) == shares.increment(None) == 1.0


def test_an_idle_user_starts_at_the_queue_clock_not_behind_or_ahead_of_it() -> None:
    assert next_tag(None, virtual_clock=40.0, increment=1.0) == 41.0
    assert next_tag(3.0, virtual_clock=40.0, increment=1.0) == 41.0  # no credit for time away
    assert next_tag(90.0, virtual_clock=40.0, increment=1.0) == 91.0  # a backlog stays behind


# --- the queue in Postgres


async def test_a_new_users_job_is_served_before_an_earlier_users_backlog(jobs: Jobs) -> None:
    for n in range(30):
        await _enqueue(jobs, _request("heavy", n))
    assert await _serve(jobs, 5) == ["heavy"] * 5
    await _enqueue(jobs, _request("light", 0))
    assert "light" in await _serve(jobs, 2)


async def test_a_claim_that_finds_no_slot_does_not_push_newcomers_back(jobs: Jobs) -> None:
    for n in range(30):
        await _enqueue(jobs, _request("heavy", n))
    await _serve(jobs, 2)
    # Claimed on a stale count of free slots, then put back unsent: the clock must not move past them.
    for job in await jobs.claim_due(10, 30.0, kie_slots=10):
        await jobs.postpone(job, datetime.now(UTC))
    await _enqueue(jobs, _request("light", 0))
    assert (await _serve(jobs, 2)).index("light") <= 1


async def test_a_pro_user_gets_twice_a_free_users_share_and_the_free_user_never_starves(jobs: Jobs) -> None:
    for n in range(40):
        await _enqueue(jobs, _request("pro-user", n, plan=Plan.PRO))
        await _enqueue(jobs, _request("free-user", n, plan=Plan.FREE))
    served = await _serve(jobs, 30)
    assert served.count("pro-user") == 20 and served.count("free-user") == 10
    # Never more than two pro jobs in a row while the free user waits.
    assert "pro-user" * 3 not in "".join("pro-user" if who == "pro-user" else "|" for who in served)


async def test_a_redelivered_request_does_not_move_its_user_back(jobs: Jobs) -> None:
    first = _request("steady", 0)
    await _enqueue(jobs, first)
    assert first.deadline_at is not None
    assert not await jobs.enqueue(first, first.deadline_at)
    await _enqueue(jobs, _request("steady", 1))
    async with jobs._pool.acquire() as conn:
        tags = await conn.fetch("SELECT fair_tag FROM generator.jobs WHERE user_id = 'steady' ORDER BY fair_tag")
    assert [row["fair_tag"] for row in tags] == [1.0, 2.0]


async def test_gemini_jobs_are_claimed_even_when_kie_has_no_slot(jobs: Jobs) -> None:
    for n in range(5):
        await _enqueue(jobs, _request("heavy", n))
    await _enqueue(jobs, _request("gemini-user", 0, provider=Provider.GEMINI_FLASH))
    claimed = await jobs.claim_due(10, 30.0, kie_slots=0)
    assert [job.request.user_id for job in claimed] == ["gemini-user"]


# --- issue 17's scenario: a 200-job backlog, then five other users, over the wire


@pytest.fixture(scope="module")
def fair_simulator() -> Iterator[ServerThread]:
    port = free_port()
    config = simulator_config(port).model_copy(
        update={"callback_hmac_key": None, "rate_limit_submissions": LIMIT, "rate_limit_window_seconds": WINDOW}
    )
    with ServerThread(create_simulator(config), port) as server:
        yield server


def _submits(simulator: SimulatorAdmin) -> list[dict[str, Any]]:
    return [r for r in simulator.requests("kie") if r["method"] == "POST" and r["path"].endswith("/generate")]


def _prompt(record: dict[str, Any]) -> str | None:
    # Recorded on arrival: a request whose body is still streaming in has none yet.
    body = record["body"]
    return body.get("prompt") if isinstance(body, dict) else None


def _at(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["at"]).timestamp()


async def _publish(nats_url: str, requests: list[GenerationRequested]) -> None:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        for request in requests:
            await js.publish(request.subject, request.to_json(), headers={"Nats-Msg-Id": str(request.event_id)})
    finally:
        await client.close()


async def _until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.1)


@pytest.mark.integration
async def test_five_light_users_are_served_within_a_window_of_arrival_behind_a_200_job_backlog(
    nats_url: str, database_url: str, media_dir: Path, fair_simulator: ServerThread
) -> None:
    simulator = SimulatorAdmin(fair_simulator.url)
    simulator.reset()
    generator = create_generator(
        GeneratorSettings(
            **common_env(nats_url, database_url),
            kie_api_key="sim-kie",
            kie_base_url=fair_simulator.url,
            gemini_api_key="sim-gemini",
            gemini_base_url=fair_simulator.url,
            http_read_timeout_seconds=5.0,
            public_base_url="http://127.0.0.1:9",
            callback_signing_key="fair-queue-callback-key",
            kie_callbacks_enabled=False,
            kie_submit_limit=LIMIT,
            kie_submit_window_seconds=WINDOW,
            kie_submit_margin_seconds=MARGIN,
            media_dir=str(media_dir),
        )
    )
    heavy = [_request("heavy", n) for n in range(200)]
    light = [_request(f"light-{n}", 0) for n in range(5)]
    async with running(generator), watching_slots(database_url) as slots:
        await _publish(nats_url, heavy)
        # The light users arrive once the backlog holds the account: in its second window.
        await _until(lambda: len(_submits(simulator)) >= LIMIT, 60, "the backlog's first window")
        arrived = time.time()
        await _publish(nats_url, light)
        light_prompts = {request.prompt for request in light}
        await _until(lambda: light_prompts <= {_prompt(r) for r in _submits(simulator)}, 60, "the light jobs")
        # Keep the heavy user's backlog going for three more windows to measure the account's use.
        last_light = max(_at(r) for r in _submits(simulator) if _prompt(r) in light_prompts)
        await _until(lambda: max(_at(r) for r in _submits(simulator)) > last_light + 3 * WINDOW, 60, "the backlog")
    submits = _submits(simulator)
    assert simulator.stats()["rateLimited"] == 0
    assert all(r["status"] == 200 for r in submits), [r["status"] for r in submits if r["status"] != 200]

    waits = [(_at(r) - arrived) / WINDOW for r in submits if _prompt(r) in light_prompts]
    assert len(waits) == 5
    # First come, first served would have them wait behind ~180 heavy jobs: nine windows.
    assert max(waits) <= 1.5, waits

    # The share of the limit used, as far as the scheduler decides it: a slot is KIE's again one window
    # (plus our margin) after its request was answered, so each slot's turnaround is at least that
    # slot's window + margin + its answer's time. How close the next submission on that slot comes to
    # it is the scheduler's doing; how long an answer takes is the machine's (seconds on a loaded
    # 2-core box), and the whole figure, answers included, is `make bench`'s (bench/BASELINE.md).
    # The median slot, not the mean: a loaded machine stalls a whole process now and then (a quarter
    # of a second late for every slot at once), which is the benchmark's to measure, not the rule's.
    booked = sorted((at, answered) for at, answered in slots.values() if answered is not None)
    used_per_slot = sorted(
        (answered + WINDOW + MARGIN - at) / (later_at - at)
        for (at, answered), (later_at, _) in zip(booked, booked[LIMIT:], strict=False)
    )
    assert len(used_per_slot) >= 3 * LIMIT, len(used_per_slot)
    used = statistics.median(used_per_slot)
    assert used >= 0.95, f"{used:.3f} of what the limit allowed (slots: {[round(u, 2) for u in used_per_slot]})"


@asynccontextmanager
async def watching_slots(database_url: str) -> AsyncIterator[dict[int, tuple[float, float | None]]]:
    """The limiter's bookings (sent at, answered at) as they pass: the limiter deletes each once its
    window is over, so the table is read four times a window."""
    slots: dict[int, tuple[float, float | None]] = {}
    conn = await asyncpg.connect(database_url)

    async def watch() -> None:
        while True:
            rows = await conn.fetch(
                "SELECT id, EXTRACT(EPOCH FROM at)::float8 AS at, EXTRACT(EPOCH FROM answered_at)::float8 AS answered"
                " FROM generator.kie_submissions"
            )
            for row in rows:
                slots[row["id"]] = (row["at"], row["answered"])
            await asyncio.sleep(WINDOW / 4)

    task = asyncio.create_task(watch())
    try:
        yield slots
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()

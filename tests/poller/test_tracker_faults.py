"""A check under faults: a long download keeps its lease; a failing store or database retries
and still respects the deadline (the result is taken late rather than lost)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from aistudio_contracts import Event
from aistudio_providers import KieClient
from aistudio_runtime.mediastore import LocalMediaStore
from poller.domain.task import LOST_RESULT_MESSAGE, Outcome
from poller.tasks import Tasks, TrackedTask

from ..support.simulator import SimulatorAdmin
from .conftest import Db, FailingStore, emitted, finished_row, poller_settings, submit, task_started, tracking, wait_for

pytestmark = pytest.mark.integration


class SlowBodies(httpx.AsyncBaseTransport):
    """Real downloads from the simulator, delivered slowly, as a large video over a slow link."""

    def __init__(self, pieces: int, pause: float) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._pieces = pieces
        self._pause = pause
        self.started = asyncio.Event()
        self.finished = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers, content=self._slowly(body))

    async def _slowly(self, body: bytes) -> AsyncIterator[bytes]:
        self.started.set()
        step = max(len(body) // self._pieces, 1)
        for start in range(0, len(body), step):
            await asyncio.sleep(self._pause)
            yield body[start : start + step]
        self.finished.set()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_long_download_renews_the_lease_so_no_other_replica_claims_the_task_mid_check(
    db: Db, simulator: SimulatorAdmin, kie: KieClient, database_url: str, media_dir: Path
) -> None:
    lease = 3.0
    settings = poller_settings(database_url, simulator.url, media_dir, check_lease_seconds=lease)
    event = task_started(await submit(kie, finished=True), adopted=True)
    checks_before = simulator.tasks()[0]["statusChecks"]
    tasks = Tasks(db)
    await tasks.track(event, 0, settings.generation_timeout_seconds)
    slow = SlowBodies(pieces=14, pause=0.5)  # about seven seconds: more than two leases

    async with httpx.AsyncClient(transport=slow) as http, tracking(db, settings, http=http):
        await wait_for(lambda: _is_set(slow.started), "the download to start")
        first_lease = await _lease_end(db, event.asset_id)
        assert first_lease is not None
        other_replica, claimed_by_other, latest_lease = uuid4(), list[TrackedTask](), first_lease
        while not slow.finished.is_set():
            claimed_by_other += await tasks.claim_due(10, lease, other_replica)
            latest_lease = max(latest_lease, await _lease_end(db, event.asset_id) or latest_lease)
            await asyncio.sleep(0.1)
        row = await wait_for(lambda: finished_row(db, event.asset_id), "the task to end")

    assert claimed_by_other == []
    assert latest_lease > first_lease + timedelta(seconds=lease / 3)
    assert row["outcome"] == Outcome.COMPLETED
    assert simulator.tasks()[0]["statusChecks"] == checks_before + 1  # one check, never a second one


async def _is_set(flag: asyncio.Event) -> bool:
    return flag.is_set()


async def _lease_end(db: Db, asset_id: UUID) -> datetime | None:
    value: datetime | None = await db.pool.fetchval(
        "SELECT checking_until FROM poller.tasks WHERE asset_id = $1", asset_id
    )
    return value


async def test_a_store_that_fails_its_first_puts_makes_the_task_retry_until_the_media_is_kept(
    db: Db, simulator: SimulatorAdmin, kie: KieClient, database_url: str, media_dir: Path
) -> None:
    settings = poller_settings(database_url, simulator.url, media_dir)
    store = FailingStore(LocalMediaStore(media_dir), failures=3)
    event = task_started(await submit(kie), adopted=True)
    await Tasks(db).track(event, 0, settings.generation_timeout_seconds)

    async with tracking(db, settings, media=store):
        row = await wait_for(lambda: finished_row(db, event.asset_id), "the task to end")

    assert row["outcome"] == Outcome.COMPLETED and store.attempts == 4
    [completed] = await emitted(db, event.asset_id)
    assert completed["subject"].endswith("completed") and completed["media"]["storage_key"] == store.stored[0]
    assert (media_dir / store.stored[0]).read_bytes().startswith(b"\x89PNG")


async def test_a_result_found_after_the_deadline_is_still_kept_while_the_store_recovers_within_the_grace(
    db: Db, simulator: SimulatorAdmin, kie: KieClient, database_url: str, media_dir: Path
) -> None:
    settings = poller_settings(database_url, simulator.url, media_dir, custody_grace_seconds=3600.0)
    store = FailingStore(LocalMediaStore(media_dir), failures=2)
    event = task_started(
        await submit(kie, finished=True), deadline_at=datetime.now(UTC) - timedelta(seconds=1), adopted=True
    )
    await Tasks(db).track(event, 0, settings.generation_timeout_seconds)

    async with tracking(db, settings, media=store):
        row = await wait_for(lambda: finished_row(db, event.asset_id), "the task to end")

    assert row["outcome"] == Outcome.COMPLETED and store.attempts == 3
    assert row["result_found_at"] is not None


async def test_a_store_failing_past_the_grace_after_the_deadline_ends_the_job_as_a_lost_result(
    db: Db, simulator: SimulatorAdmin, kie: KieClient, database_url: str, media_dir: Path
) -> None:
    settings = poller_settings(database_url, simulator.url, media_dir, custody_grace_seconds=0.5)
    store = FailingStore(LocalMediaStore(media_dir), failures=10**6)
    event = task_started(await submit(kie, finished=True), deadline_at=datetime.now(UTC), adopted=True)
    await Tasks(db).track(event, 0, settings.generation_timeout_seconds)

    async with tracking(db, settings, media=store):
        row = await wait_for(lambda: finished_row(db, event.asset_id), "the task to end")

    assert row["outcome"] == Outcome.FAILED and store.attempts >= 1
    [failed] = await emitted(db, event.asset_id)
    assert failed["reason"] == "provider_error" and failed["message"] == LOST_RESULT_MESSAGE


class FlakyTasks(Tasks):
    """The repository, with the database failing the first completion (as during a restart)."""

    def __init__(self, db: Db) -> None:
        super().__init__(db)
        self.failed_finishes = 0

    async def finish(self, asset_id: UUID, outcome: Outcome, event: Event) -> bool:
        if outcome is Outcome.COMPLETED and self.failed_finishes == 0:
            self.failed_finishes += 1
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        return await super().finish(asset_id, outcome, event)


async def test_a_database_failure_while_completing_retries_the_check_once_the_lease_runs_out(
    db: Db, simulator: SimulatorAdmin, kie: KieClient, database_url: str, media_dir: Path
) -> None:
    settings = poller_settings(database_url, simulator.url, media_dir, check_lease_seconds=1.0)
    tasks = FlakyTasks(db)
    event = task_started(await submit(kie), adopted=True)
    await tasks.track(event, 0, settings.generation_timeout_seconds)

    async with tracking(db, settings, tasks=tasks):
        row = await wait_for(lambda: finished_row(db, event.asset_id), "the task to end")

    assert row["outcome"] == Outcome.COMPLETED and tasks.failed_finishes == 1
    assert row["checks"] >= 2
    assert len(await emitted(db, event.asset_id)) == 1

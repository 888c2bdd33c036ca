"""The poller against a real Postgres and the provider simulator: its repository, its tracker
with our own fakes where a test needs a fault (a store that fails), and the whole app over NATS."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from aistudio_contracts import MediaType, Provider, TaskStarted
from aistudio_providers import KieClient, KieSubmit, download_client
from aistudio_runtime.db import create_pool
from aistudio_runtime.mediastore import LocalMediaStore, MediaStore
from poller.settings import PollerSettings
from poller.tasks import Tasks
from poller.tracker import Tracker
from provider_simulator import create_app as create_simulator

from ..support.services import common_env
from ..support.simulator import ServerThread, SimulatorAdmin, free_port, simulator_config

# Generous: every wait below polls for a condition and gives up only after this.
PATIENCE_SECONDS = 60.0


@pytest.fixture(scope="session")
def poller_simulator() -> Iterator[SimulatorAdmin]:
    port = free_port()
    with ServerThread(create_simulator(simulator_config(port)), port) as server:
        admin = SimulatorAdmin(server.url)
        yield admin
        admin.close()


@pytest.fixture
def simulator(poller_simulator: SimulatorAdmin) -> SimulatorAdmin:
    poller_simulator.reset()
    return poller_simulator


@dataclass
class Db:
    pool: asyncpg.Pool


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    pool = await create_pool(database_url, min_size=1, max_size=6)
    try:
        yield Db(pool)
    finally:
        await pool.close()


def poller_settings(database_url: str, simulator_url: str, media_dir: Path, **overrides: Any) -> PollerSettings:
    options: dict[str, Any] = {
        **common_env("nats://127.0.0.1:1", database_url),
        "kie_api_key": "sim-kie",
        "kie_base_url": simulator_url,
        "media_dir": str(media_dir),
        "poll_interval_seconds": 0.2,
        "generation_timeout_seconds": 600.0,
        **overrides,
    }
    return PollerSettings(**options)


@pytest.fixture
async def kie(simulator: SimulatorAdmin, database_url: str, media_dir: Path) -> AsyncIterator[KieClient]:
    async with KieClient.from_settings(poller_settings(database_url, simulator.url, media_dir)) as client:
        yield client


async def submit(kie: KieClient, prompt: str = "A lighthouse at dawn", *, finished: bool = False) -> str:
    """A task at the simulator; `finished`: once it has its result (for tasks tracked past their deadline)."""
    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit(prompt, "1:1"))
    if finished:
        await wait_for(lambda: _finished(kie, task_id), "the simulator to finish the task")
    return task_id


async def _finished(kie: KieClient, task_id: str) -> bool:
    return (await kie.status(Provider.KIE_4O_IMAGE, task_id)).finished


def task_started(task_id: str, *, deadline_at: datetime | None = None, adopted: bool = False) -> TaskStarted:
    asset_id = uuid4()
    return TaskStarted(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id="poller-test",
        provider=Provider.KIE_4O_IMAGE,
        media_type=MediaType.IMAGE,
        task_id=task_id,
        prompt="A lighthouse at dawn",
        deadline_at=deadline_at,
        adopted=adopted,
    )


async def wait_for(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll until `condition` gives something truthy; fail only after PATIENCE_SECONDS."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        await asyncio.sleep(0.05)


async def task_row(db: Db, asset_id: UUID) -> asyncpg.Record | None:
    return await db.pool.fetchrow("SELECT * FROM poller.tasks WHERE asset_id = $1", asset_id)


async def finished_row(db: Db, asset_id: UUID) -> asyncpg.Record | None:
    row = await task_row(db, asset_id)
    return row if row is not None and row["state"] == "done" else None


async def emitted(db: Db, asset_id: UUID) -> list[dict[str, Any]]:
    """The events the poller wrote to its outbox for the asset, oldest first."""
    rows = await db.pool.fetch("SELECT subject, payload FROM poller.outbox ORDER BY id")
    events = [{"subject": row["subject"], **json.loads(row["payload"])} for row in rows]
    return [event for event in events if event.get("asset_id") == str(asset_id)]


@dataclass
class FailingStore:
    """Our media store, failing its first `failures` puts (as a full disk or an S3 outage would)."""

    inner: MediaStore
    failures: int
    attempts: int = 0
    stored: list[str] = field(default_factory=list)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        raise AssertionError("the poller stores from a file")

    async def put_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError(f"store unavailable (attempt {self.attempts})")
        await self.inner.put_file(key, path, content_type, sha256=sha256)
        self.stored.append(key)

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)


@contextlib.asynccontextmanager
async def tracking(
    db: Db,
    settings: PollerSettings,
    *,
    tasks: Tasks | None = None,
    media: MediaStore | None = None,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[Tracker]:
    """A running tracker (one replica) over the test's database and the simulator."""
    async with contextlib.AsyncExitStack() as stack:
        kie = await stack.enter_async_context(KieClient.from_settings(settings))
        downloads = http if http is not None else await stack.enter_async_context(download_client(settings))
        tracker = Tracker(
            settings,
            db,
            tasks or Tasks(db),
            kie=lambda: kie,
            http=lambda: downloads,
            media=media or LocalMediaStore(settings.media_dir),
        )
        await tracker.start()
        try:
            yield tracker
        finally:
            await tracker.stop()

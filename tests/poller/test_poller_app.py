"""The whole poller over NATS: a callback that comes before TaskStarted is applied once the task
is tracked, and an adopted task is checked at once, not after its scheduled first check."""

from pathlib import Path

import pytest

from aistudio_contracts import Provider, ProviderCallbackReceived
from aistudio_providers import KieClient
from poller.app import create_app

from ..support.events import publish
from ..support.services import running
from ..support.simulator import SimulatorAdmin
from .conftest import Db, finished_row, poller_settings, submit, task_started, wait_for

pytestmark = pytest.mark.integration

# The scheduled first check is an hour away: a task that ends was checked because of its callback.
HOUR = 3600.0


async def test_a_callback_before_task_started_makes_the_task_checked_at_once_when_it_is_tracked(
    db: Db, nats_url: str, database_url: str, media_dir: Path, simulator: SimulatorAdmin, kie: KieClient
) -> None:
    settings = poller_settings(
        database_url, simulator.url, media_dir, nats_url=nats_url, poll_interval_seconds=HOUR, adaptive_schedule=False
    )
    started = task_started(await submit(kie, finished=True))
    callback = ProviderCallbackReceived(
        correlation_id=started.asset_id,
        asset_id=started.asset_id,
        provider=Provider.KIE_4O_IMAGE,
        task_id=started.task_id,
    )
    async with running(create_app(settings)):
        await publish(nats_url, callback)
        await wait_for(
            lambda: db.pool.fetchval("SELECT true FROM poller.early_callbacks WHERE asset_id = $1", started.asset_id),
            "the early callback to be kept",
        )
        await publish(nats_url, started)
        row = await wait_for(lambda: finished_row(db, started.asset_id), "the task to end")

    assert row["outcome"] == "completed" and row["checks"] == 1
    assert await db.pool.fetchval("SELECT count(*) FROM poller.early_callbacks") == 0


async def test_an_adopted_task_is_checked_at_once(
    db: Db, nats_url: str, database_url: str, media_dir: Path, simulator: SimulatorAdmin, kie: KieClient
) -> None:
    settings = poller_settings(
        database_url, simulator.url, media_dir, nats_url=nats_url, poll_interval_seconds=HOUR, adaptive_schedule=False
    )
    started = task_started(await submit(kie, finished=True), adopted=True)
    async with running(create_app(settings)):
        await publish(nats_url, started)
        row = await wait_for(lambda: finished_row(db, started.asset_id), "the task to end")
    assert row["outcome"] == "completed" and row["checks"] == 1

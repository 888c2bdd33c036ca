"""The catalog's view of generations, for /metrics: how each settled, and how long ready took.

The handlers hand each move the catalog made (after its transaction committed, so a redelivered
event, which moves nothing, is never counted twice) to `SettlementMetrics`, which looks the assets'
acceptance times up in batches on one connection at a time: metrics never compete with the users'
requests for the pool, at the price of a scrape that may lag a moment behind.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prometheus_client import Counter, Histogram

from aistudio_contracts import AssetStatus
from aistudio_runtime import get_logger

from .catalog import Catalog
from .domain import lifecycle

log = get_logger(__name__)

GENERATIONS = Counter(
    "aistudio_generations_total",
    "Generations settled by the catalog, by provider, media type and outcome (ready, error, cancelled).",
    ["provider", "media_type", "outcome"],
)
TIME_TO_READY = Histogram(
    "aistudio_generation_time_to_ready_seconds",
    "From the request's acceptance to its media in our custody, for generations that became ready.",
    ["provider", "media_type"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400),
)
# Taken in the accept transaction (usage.reserve_units); usage counts the moves after it.
QUOTA_RESERVATIONS = Counter(
    "aistudio_quota_reservations_total",
    "Units of quota asked for on accepting a request, by result (granted, refused); one per asset.",
    ["result"],
)


def units_asked(granted: bool, units: int = 1) -> None:
    QUOTA_RESERVATIONS.labels("granted" if granted else "refused").inc(units)


# Beyond this many moves waiting to be counted (the database away), the oldest are dropped.
MAX_WAITING = 10_000
BATCH = 200


@dataclass(frozen=True, slots=True)
class Settled:
    asset_id: UUID
    outcome: AssetStatus
    done_at: datetime


class SettlementMetrics:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._waiting: asyncio.Queue[Settled] = asyncio.Queue(MAX_WAITING)
        self._task: asyncio.Task[None] | None = None

    def moved(self, asset_id: UUID, move: lifecycle.Move | None, done_at: datetime) -> None:
        if move is None or move.charged is None:
            return
        if self._waiting.full():
            self._waiting.get_nowait()
        self._waiting.put_nowait(Settled(asset_id, move.to, done_at))
        # One counting task at a time, gone once the queue is empty: nothing to start or stop.
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._count(), name="settlement-metrics")

    async def _count(self) -> None:
        while not self._waiting.empty():
            batch = [self._waiting.get_nowait() for _ in range(min(BATCH, self._waiting.qsize()))]
            try:
                rows = await self._catalog.acceptance([item.asset_id for item in batch])
            except Exception as exc:  # counted a little late or not at all; never in the users' way
                log.warning("settlement_metrics_failed", error=repr(exc), dropped=len(batch))
                return
            assets = {row["id"]: row for row in rows}
            for item in batch:
                asset = assets.get(item.asset_id)
                if asset is None:
                    continue
                GENERATIONS.labels(asset["provider"], asset["type"], item.outcome.value).inc()
                if item.outcome is AssetStatus.READY:
                    seconds = max((item.done_at - asset["created_at"]).total_seconds(), 0.0)
                    TIME_TO_READY.labels(asset["provider"], asset["type"]).observe(seconds)

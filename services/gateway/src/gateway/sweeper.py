"""The catalog's own backstop: nothing stays processing forever.

The poller enforces each task's deadline; this catches what never reached it (a message that
could not be processed, a lost job). Past the deadline plus a grace period, the asset fails as
timed out and GenerationFailed goes out through the outbox, so the quota unit is released.
"""

import asyncio
import contextlib
from datetime import timedelta

from aistudio_contracts import FailureReason, GenerationFailed, Provider
from aistudio_runtime import enqueue, get_logger

from .catalog import SCHEMA, Catalog

log = get_logger(__name__)

TIMEOUT_MESSAGE = "The generation took too long and was stopped. It was not counted against your quota."


class StuckAssetSweeper:
    def __init__(self, catalog: Catalog, *, max_age: timedelta, interval_seconds: float = 60.0) -> None:
        self._catalog = catalog
        self._max_age = max_age
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stuck-asset-sweeper")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep_once(self) -> int:
        async with self._catalog.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE gateway.media_assets SET status = 'error', error_code = $1, error_message = $2,"
                " completed_at = now(), updated_at = now()"
                " WHERE id IN (SELECT id FROM gateway.media_assets WHERE status = 'processing'"
                "   AND created_at < now() - $3::interval ORDER BY created_at LIMIT 200 FOR UPDATE SKIP LOCKED)"
                " RETURNING id, user_id, provider, provider_task_id",
                FailureReason.TIMEOUT.value,
                TIMEOUT_MESSAGE,
                self._max_age,
            )
            events = [
                GenerationFailed(
                    correlation_id=row["id"],
                    asset_id=row["id"],
                    user_id=row["user_id"],
                    provider=Provider(row["provider"]),
                    reason=FailureReason.TIMEOUT,
                    message=TIMEOUT_MESSAGE,
                    task_id=row["provider_task_id"],
                )
                for row in rows
            ]
            await enqueue(conn, SCHEMA, *events)
            for row in rows:
                await self._catalog.record_change(conn, row["user_id"], row["id"])
        if rows:
            log.warning("stuck_assets_failed", count=len(rows))
        return len(rows)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log.warning("stuck_asset_sweep_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

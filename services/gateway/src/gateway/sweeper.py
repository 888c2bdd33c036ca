"""The catalog's own backstop: nothing stays processing past its deadline.

The poller fails each task at the job's deadline; this catches what never reached it (a lost
job, a message that could not be processed). Past the deadline plus a grace, the asset fails
as timed out through the catalog, which settles it (GenerationSettled: the unit goes back).
"""

import asyncio
import contextlib
from datetime import timedelta

from aistudio_contracts import FailureReason
from aistudio_runtime import get_logger

from .catalog import Catalog

log = get_logger(__name__)

TIMEOUT_MESSAGE = "The generation took too long and was stopped. It was not counted against your quota."


class StuckAssetSweeper:
    def __init__(self, catalog: Catalog, *, grace: timedelta, interval_seconds: float = 60.0) -> None:
        self._catalog = catalog
        self._grace = grace
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
        failed = await self._catalog.expire_overdue(self._grace, FailureReason.TIMEOUT, TIMEOUT_MESSAGE)
        if failed:
            log.warning("stuck_assets_failed", count=failed)
        return failed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log.warning("stuck_asset_sweep_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

"""Tells the catalog where KIE's queue stands, at most once a second and only when it moved.

Each waiting job's ticket went out once, when it joined (jobs.py, QueueJoined); this adds the
queue's head (`served_through`) and the limiter's pace, so the catalog can count a job's place
and estimate its start without one event per waiting job (aistudio_contracts.queue).
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from aistudio_contracts import KIE_QUEUE, QueueAdvanced, queue_correlation_id
from aistudio_runtime import get_logger

from .jobs import Jobs
from .ratelimit import SubmitRateLimiter

log = get_logger(__name__)

# A start estimate that moved less than this is not worth an update on every open page.
_ESTIMATE_TOLERANCE = timedelta(seconds=2)


class QueueReporter:
    def __init__(self, jobs: Jobs, limiter: SubmitRateLimiter, *, interval_seconds: float = 1.0) -> None:
        self._jobs = jobs
        self._limiter = limiter
        self._interval = interval_seconds
        self._last: QueueAdvanced | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="generator-queue-report")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def report(self) -> QueueAdvanced | None:
        """Publish the queue's standing if it moved since the last report; the event, or None."""
        served = await self._jobs.queue_clock()
        next_slot_at = datetime.now(UTC) + timedelta(seconds=await self._limiter.next_free_in())
        last = self._last
        if (
            last is not None
            and last.served_through == served
            and abs(last.next_slot_at - next_slot_at) < _ESTIMATE_TOLERANCE
        ):
            return None
        event = QueueAdvanced(
            correlation_id=queue_correlation_id(KIE_QUEUE),
            served_through=served,
            next_slot_at=next_slot_at,
            slots_per_cycle=self._limiter.limit,
            cycle_seconds=self._limiter.cycle_seconds,
        )
        await self._jobs.publish_queue(event)
        self._last = event
        return event

    async def _run(self) -> None:
        while True:
            try:
                await self.report()
            except Exception as exc:  # the database is away: the next tick tries again
                log.warning("queue_report_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

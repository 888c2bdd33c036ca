"""Works the job table: claims due jobs under a lease, runs each, keeps the leases fresh.

Replicas share the table through `FOR UPDATE SKIP LOCKED`; a NOTIFY wakes the loop when a job
is taken in. A worker that dies lets its leases run out: what it had not sent goes back to
waiting, what it may have sent becomes in doubt (see domain/job.py).
"""

import asyncio
import contextlib

import structlog

from aistudio_runtime import Database, get_logger, tracing
from aistudio_runtime.db import Listener, listen

from .jobs import WAKEUP_CHANNEL, Job, Jobs
from .ratelimit import SubmitRateLimiter
from .settings import GeneratorSettings
from .submission import Submitter

log = get_logger(__name__)


class JobScheduler:
    def __init__(
        self, settings: GeneratorSettings, db: Database, jobs: Jobs, limiter: SubmitRateLimiter, submitter: Submitter
    ) -> None:
        self._settings = settings
        self._db = db
        self._jobs = jobs
        self._limiter = limiter
        self._submitter = submitter
        self._lease = settings.job_lease_seconds
        self._wakeup = asyncio.Event()
        self._running: dict[asyncio.Task[None], Job] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Listener | None = None
        self._stopping = False

    async def start(self) -> None:
        self._listener = await listen(self._db, WAKEUP_CHANNEL, self._on_notify)
        self._tasks = [
            asyncio.create_task(self._run(), name="generator-scheduler"),
            asyncio.create_task(self._keep_leases(), name="generator-leases"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks[0]
        if self._running:
            await asyncio.wait(list(self._running), timeout=self._settings.shutdown_grace_seconds)
        self._tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tasks[1]
        if self._listener is not None:
            await self._listener.close()

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self._wakeup.clear()
                free = self._settings.submit_concurrency - len(self._running)
                due: list[Job] = []
                if free > 0:
                    slots = await self._limiter.free_slots()
                    due = await self._jobs.claim_due(free, self._lease, slots)
                for job in due:
                    task = asyncio.create_task(self._work(job))
                    self._running[task] = job
                    task.add_done_callback(self._running.pop)
                if due and len(due) == free:
                    await asyncio.sleep(0)
                    continue
                until_next = await self._jobs.seconds_until_next_due()
                timeout = 1.0 if until_next is None else min(max(until_next, 0.01), 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again shortly
                log.warning("scheduler_loop_error", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _work(self, job: Job) -> None:
        with (
            tracing.span("generator.work", traceparent=job.traceparent, asset_id=job.asset_id, provider=job.provider),
            structlog.contextvars.bound_contextvars(asset_id=str(job.asset_id), user_id=job.request.user_id),
        ):
            try:
                await self._submitter.work(job)
            except Exception as exc:
                # Its lease runs out and the rules look at the job again; nothing is resent blindly.
                log.warning("job_work_failed", error=repr(exc))

    async def _keep_leases(self) -> None:
        """Renew the running jobs' leases and recover what dead workers left behind."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._jobs.renew([job.asset_id for job in self._running.values()], self._lease)
                unsent, doubtful = await self._jobs.recover_abandoned()
                if unsent or doubtful:
                    log.warning("abandoned_jobs_recovered", unsent=unsent, in_doubt=doubtful)
                    self._wakeup.set()
            except Exception as exc:
                log.warning("lease_renewal_failed", error=repr(exc))

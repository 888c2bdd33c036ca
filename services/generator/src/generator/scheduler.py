"""Works the job table (runtime's leased loop): claims due jobs as the KIE limiter's free slots allow,
submits each, keeps the leases fresh, and lets the job rules recover what dead workers left behind."""

import structlog

from aistudio_runtime import Database, get_logger, tracing
from aistudio_runtime.leased import LeasedTable, LeasedWorkLoop

from .jobs import WAKEUP_CHANNEL, Job, Jobs
from .ratelimit import SubmitRateLimiter
from .settings import GeneratorSettings
from .submission import Submitter

log = get_logger(__name__)


def job_scheduler(
    settings: GeneratorSettings, db: Database, jobs: Jobs, limiter: SubmitRateLimiter, submitter: Submitter
) -> LeasedWorkLoop[Job]:
    lease = settings.job_lease_seconds

    async def claim(free: int) -> list[Job]:
        return await jobs.claim_due(free, lease, await limiter.free_slots())

    async def renew(running: list[Job]) -> None:
        await jobs.renew([job.asset_id for job in running], lease)

    async def work(job: Job) -> None:
        with (
            tracing.span("generator.work", traceparent=job.traceparent, asset_id=job.asset_id, provider=job.provider),
            structlog.contextvars.bound_contextvars(asset_id=str(job.asset_id), user_id=job.request.user_id),
        ):
            try:
                await submitter.work(job)
            except Exception as exc:
                # Its lease runs out and the job rules look at it again; nothing is resent blindly.
                log.warning("job_work_failed", error=repr(exc))

    table = LeasedTable(claim, jobs.seconds_until_next_due, renew, jobs.recover_abandoned, work)
    return LeasedWorkLoop(
        "generator-jobs",
        db,
        WAKEUP_CHANNEL,
        table,
        concurrency=settings.submit_concurrency,
        lease_seconds=lease,
        grace_seconds=settings.shutdown_grace_seconds,
    )

"""The generator's metrics: its jobs by state and KIE's shared submit limiter.

Queue depth and jobs by state are read from `generator.jobs` at scrape time (every replica sees
the same table, so any replica's scrape tells the whole truth); the limiter's waits are observed
by the replica that was told to wait.
"""

from prometheus_client import Gauge, Histogram

from aistudio_runtime import Database

from .domain.job import JobState

KIE_QUEUE_DEPTH = Gauge(
    "aistudio_kie_limiter_queue_depth",
    "KIE jobs due now and waiting in the job table (the limiter's queue).",
)
KIE_LIMITER_WAIT = Histogram(
    "aistudio_kie_limiter_wait_seconds",
    "How long the limiter asked a submission to wait for a slot (0 when one was free).",
    buckets=(0, 0.1, 0.5, 1, 2, 5, 10, 20, 30),
)
JOBS = Gauge("aistudio_generator_jobs", "Generator jobs by state.", ["state"])
KIE_CREDIT_DRIFT = Gauge(
    "aistudio_kie_credit_drift",
    "KIE credits the account spent since the cross-check's baseline minus those our ledger recorded"
    " (above 0: charged and not recorded). 0 while KIE_CREDIT_CHECK is off.",
)
KIE_CREDIT_BALANCE = Gauge("aistudio_kie_credit_balance", "KIE's credit balance at the last cross-check reading.")


class GeneratorGauges:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def refresh(self) -> None:
        rows = await self._db.pool.fetch(
            "SELECT state, count(*) AS n,"
            " count(*) FILTER (WHERE state = 'waiting' AND provider LIKE 'kie-%' AND due_at <= now()) AS kie_due"
            " FROM generator.jobs GROUP BY state"
        )
        counts = {row["state"]: int(row["n"]) for row in rows}
        for state in JobState:
            JOBS.labels(state.value).set(counts.get(state.value, 0))
        KIE_QUEUE_DEPTH.set(sum(int(row["kie_due"]) for row in rows))

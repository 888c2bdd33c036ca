"""The poller's metrics: checks, tasks in flight, how late the due checks run, outcomes.

Checks and outcomes are counted by the repository when it claims or finishes a task (so a lost
race counts nothing); what is in flight and how far behind the checks are is read from
`poller.tasks` at scrape time, the same answer from every replica.
"""

from prometheus_client import Counter, Gauge, Histogram

from aistudio_runtime import Database

CHECKS = Counter("aistudio_poller_checks_total", "Task checks started, by provider.", ["provider"])
CHECKS_PER_TASK = Histogram(
    "aistudio_poller_checks_per_task",
    "How many checks a task took until its outcome.",
    ["provider"],
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
)
TASKS_FINISHED = Counter(
    "aistudio_poller_tasks_finished_total", "Tasks ended, by provider and outcome.", ["provider", "outcome"]
)
TASKS_IN_FLIGHT = Gauge("aistudio_poller_tasks_in_flight", "Tasks followed and not yet ended.", ["provider"])
CHECK_LAG = Gauge(
    "aistudio_poller_check_lag_seconds",
    "How long the most overdue check has been due and not started (0: none is late).",
)


class PollerGauges:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def refresh(self) -> None:
        rows = await self._db.pool.fetch(
            "SELECT provider, count(*) AS n FROM poller.tasks WHERE state = 'pending' GROUP BY provider"
        )
        TASKS_IN_FLIGHT.clear()
        for row in rows:
            TASKS_IN_FLIGHT.labels(row["provider"]).set(int(row["n"]))
        lag = await self._db.pool.fetchval(
            "SELECT coalesce(extract(epoch FROM clock_timestamp() - min(next_check_at)), 0) FROM poller.tasks"
            " WHERE state = 'pending' AND next_check_at <= clock_timestamp()"
            " AND (checking_until IS NULL OR checking_until < clock_timestamp())"
        )
        CHECK_LAG.set(max(float(lag or 0), 0.0))

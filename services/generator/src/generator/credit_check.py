"""The KIE credits cross-check (KIE_CREDIT_CHECK): every KIE_CREDIT_CHECK_SECONDS, KIE's balance
(GET /api/v1/chat/credit) against the KIE credits our ledger recorded since the first reading.

A balance cannot be split by call, so it is sampled, not read around each submit (two readings
around one submit would include every other replica's tasks). The rules are in
domain/credit_drift.py; this reads the balance, sums the ledger between the readings' moments
(Postgres's clock, the one the ledger's rows are stamped with), sets aistudio_kie_credit_drift
and warns when the drift outlives one reading. Every replica runs it and sees the same account
and the same ledger, so each reports the same drift.
"""

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal

from aistudio_providers import KieClient
from aistudio_runtime import Database, get_logger

from .domain.credit_drift import Check, CreditDrift, Reading, Verdict
from .metrics import KIE_CREDIT_BALANCE, KIE_CREDIT_DRIFT

log = get_logger(__name__)

# A baseline is read while no KIE submit is under way and none was just recorded, so no task is
# caught between KIE's charge and our ledger's row; after this many busy tries it is read anyway.
_QUIET_TRIES = 10
_QUIET = (
    "SELECT NOT EXISTS (SELECT 1 FROM generator.jobs WHERE state = 'submitting' AND provider LIKE 'kie-%')"
    " AND NOT EXISTS (SELECT 1 FROM generator.provider_costs WHERE provider = 'kie'"
    "  AND at > clock_timestamp() - interval '5 seconds')"
)


class CreditCheck:
    def __init__(
        self, db: Database, kie: Callable[[], KieClient], *, interval_seconds: float, tolerance: float
    ) -> None:
        self._db = db
        self._kie = kie
        self._interval = interval_seconds
        self.drift = CreditDrift(Decimal(str(tolerance)))
        self._busy_tries = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="generator-kie-credit-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sample(self) -> Check | None:
        """One reading; None when a baseline was due but the ledger was busy."""
        if self.drift.baseline is None:
            if not await self._db.pool.fetchval(_QUIET) and self._busy_tries < _QUIET_TRIES:
                self._busy_tries += 1
                return None
            self._busy_tries = 0
        # The moment is taken before the balance is asked for: a charge after it is in both figures.
        at = await self._db.pool.fetchval("SELECT clock_timestamp()")
        reading = Reading(at, await self._kie().credits())
        KIE_CREDIT_BALANCE.set(float(reading.balance))
        baseline = self.drift.baseline
        if baseline is None:
            return self._told(self.drift.start(reading))
        recorded = await self._db.pool.fetchval(
            "SELECT coalesce(sum(units), 0) FROM generator.provider_costs WHERE provider = 'kie'"
            " AND unit = 'credits' AND at >= $1 AND at < $2",
            baseline.at,
            reading.at,
        )
        return self._told(self.drift.observe(reading, Decimal(recorded)))

    def _told(self, check: Check) -> Check:
        KIE_CREDIT_DRIFT.set(float(check.drift))
        figures = {"spent": str(check.spent), "recorded": str(check.recorded), "drift": str(check.drift)}
        if check.verdict is Verdict.DRIFTS:
            log.warning("kie_credit_drift", tolerance=str(self.drift.tolerance), **figures)
        elif check.verdict is Verdict.TOPPED_UP:
            log.info("kie_credit_balance_rose_check_restarted")
        return check

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # KIE or the database is away: the next reading tries again
                log.warning("kie_credit_check_failed", error=repr(exc))
            await asyncio.sleep(self._interval)

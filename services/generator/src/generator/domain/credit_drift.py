"""KIE charges the account, not a call: the cross-check of its balance against our cost ledger.

Pure. Each reading is the balance and the moment it was read. What KIE spent since the baseline
(the balance then minus now) should equal the KIE credits our ledger recorded in between; the
difference is the drift. It is cumulative on purpose: a task charged just before a reading but
written to the ledger just after it shows as drift at that reading and is gone at the next, so a
warning waits for a drift that outlives one reading. A balance that rose (a top-up, a refund) has
no ledger counterpart: the check starts over from it.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    balance: Decimal


class Verdict(StrEnum):
    BASELINE = "baseline"  # the first reading, or one after a top-up: nothing to compare yet
    AGREES = "agrees"  # within the tolerance, or outside it for the first time
    DRIFTS = "drifts"  # outside the tolerance at two readings in a row: worth a warning
    TOPPED_UP = "topped_up"  # the balance rose: a new baseline


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    spent: Decimal  # by KIE's balance since the baseline
    recorded: Decimal  # by our ledger since the baseline
    # Spent minus recorded: above 0, KIE charged what we did not record; below 0, we recorded more.
    drift: Decimal


class CreditDrift:
    def __init__(self, tolerance: Decimal) -> None:
        self.tolerance = tolerance
        self.baseline: Reading | None = None
        self._last: Reading | None = None
        self._outside = False

    def start(self, reading: Reading) -> Check:
        self.baseline = self._last = reading
        self._outside = False
        return Check(Verdict.BASELINE, Decimal(0), Decimal(0), Decimal(0))

    def observe(self, reading: Reading, recorded_since_baseline: Decimal) -> Check:
        """`recorded_since_baseline`: the ledger's KIE credits written after the baseline's
        moment and up to this reading's."""
        if self.baseline is None or self._last is None:
            return self.start(reading)
        if reading.balance > self._last.balance + self.tolerance:
            self.start(reading)
            return Check(Verdict.TOPPED_UP, Decimal(0), Decimal(0), Decimal(0))
        self._last = reading
        spent = self.baseline.balance - reading.balance
        drift = spent - recorded_since_baseline
        outside = abs(drift) > self.tolerance
        persisted, self._outside = outside and self._outside, outside
        return Check(Verdict.DRIFTS if persisted else Verdict.AGREES, spent, recorded_since_baseline, drift)

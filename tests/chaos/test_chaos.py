"""Faults injected mid-burst into the whole system, one per scenario, and every invariant after it.

See scenario.py for the burst, the faults and the invariants; conftest.py for which scenarios a
plain `pytest` runs (the short form) and the report.
"""

import pytest

from .conftest import record
from .scenario import FAULTS, run_scenario
from .system import ChaosSystem

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.mark.parametrize("scenario", list(FAULTS))
def test_every_accepted_job_ends_ready_and_is_charged_once_through_the_fault(
    chaos_system: ChaosSystem, scenario: str
) -> None:
    result = run_scenario(chaos_system, FAULTS[scenario])
    record(result)
    print(result.row())
    assert result.passed, f"{scenario} broke {len(result.violations)} invariant(s):\n- " + "\n- ".join(
        result.violations
    )

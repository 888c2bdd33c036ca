"""The KIE credits cross-check's rules, without servers: what the balance spent against what the
ledger recorded, a drift that must outlive one reading to be worth a warning, and top-ups."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from generator.domain.credit_drift import CreditDrift, Reading, Verdict

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def reading(minute: int, balance: str) -> Reading:
    return Reading(T0 + timedelta(minutes=minute), Decimal(balance))


def test_the_first_reading_is_the_baseline_with_nothing_to_compare() -> None:
    check = CreditDrift(Decimal(1)).observe(reading(0, "10000"), Decimal(0))
    assert (check.verdict, check.drift) == (Verdict.BASELINE, Decimal(0))


def test_credits_spent_that_the_ledger_recorded_agree() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "10000"))
    check = drift.observe(reading(1, "9934"), Decimal(66))
    assert (check.verdict, check.spent, check.recorded, check.drift) == (
        Verdict.AGREES,
        Decimal(66),
        Decimal(66),
        Decimal(0),
    )


def test_a_task_recorded_just_after_a_reading_is_no_warning_once_the_next_reading_has_it() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "10000"))
    caught_between = drift.observe(reading(1, "9940"), Decimal(0))  # charged, its ledger row not yet written
    assert (caught_between.verdict, caught_between.drift) == (Verdict.AGREES, Decimal(60))
    assert drift.observe(reading(2, "9940"), Decimal(60)).verdict is Verdict.AGREES


def test_a_charge_the_ledger_never_recorded_drifts_at_the_second_reading_and_keeps_drifting() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "10000"))
    assert drift.observe(reading(1, "9969"), Decimal(6)).verdict is Verdict.AGREES
    second = drift.observe(reading(2, "9969"), Decimal(6))
    assert (second.verdict, second.drift) == (Verdict.DRIFTS, Decimal(25))
    assert drift.observe(reading(3, "9963"), Decimal(12)).drift == 25


def test_recording_more_than_was_charged_drifts_too() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "10000"))
    drift.observe(reading(1, "9994"), Decimal(60))
    assert drift.observe(reading(2, "9994"), Decimal(60)).drift == -54


def test_a_drift_within_the_tolerance_is_no_warning() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "10000.0"))
    drift.observe(reading(1, "9993.5"), Decimal(6))
    assert drift.observe(reading(2, "9993.5"), Decimal(6)).verdict is Verdict.AGREES


def test_a_balance_that_rose_starts_the_check_over_from_it() -> None:
    drift = CreditDrift(Decimal(1))
    drift.start(reading(0, "100"))
    assert drift.observe(reading(1, "10100"), Decimal(0)).verdict is Verdict.TOPPED_UP
    assert drift.baseline == reading(1, "10100")
    assert drift.observe(reading(2, "10094"), Decimal(6)).drift == 0

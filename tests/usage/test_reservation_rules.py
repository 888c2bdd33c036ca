"""The reservation lifecycle's decision table, without servers."""

from datetime import UTC, datetime, timedelta

import pytest

from usage.domain import plans, reservation
from usage.domain.reservation import ReservationState as S

ALL = [None, *S]


@pytest.mark.parametrize(
    ("state", "charged", "target", "used", "reserved"),
    [
        (S.RESERVED, True, S.COMMITTED, 1, -1),
        (S.RESERVED, False, S.RELEASED, 0, -1),
        (S.EXPIRED, True, S.COMMITTED, 1, 0),
        (S.EXPIRED, False, S.RELEASED, 0, 0),
        (S.WITHDRAWN, True, S.COMMITTED, 1, 0),
        (S.WITHDRAWN, False, S.RELEASED, 0, 0),
        (S.TOMBSTONE, True, S.COMMITTED, 1, 0),
        (S.TOMBSTONE, False, S.RELEASED, 0, 0),
    ],
)
def test_a_verdict_on_an_open_reservation_counts_the_unit_if_and_only_if_charged(
    state: S, charged: bool, target: S, used: int, reserved: int
) -> None:
    move = reservation.settle(state, charged=charged)
    assert move is not None
    assert (move.source, move.target, move.used, move.reserved) == (state, target, used, reserved)


@pytest.mark.parametrize("state", [S.COMMITTED, S.RELEASED, None])
@pytest.mark.parametrize("charged", [True, False])
def test_a_verdict_on_a_settled_or_unknown_reservation_changes_nothing(state: S | None, charged: bool) -> None:
    assert reservation.settle(state, charged=charged) is None


def test_a_late_success_after_an_error_changes_nothing() -> None:
    released = reservation.settle(S.RESERVED, charged=False)
    assert released is not None
    assert reservation.settle(released.target, charged=False) is None


def test_a_withdrawal_before_its_reserve_leaves_a_tombstone_that_refuses_the_late_reserve() -> None:
    tombstone = reservation.withdraw(None)
    assert tombstone is not None and tombstone.target is S.TOMBSTONE
    assert (tombstone.used, tombstone.reserved) == (0, 0)
    late = reservation.reserve(tombstone.target)
    assert not late.granted
    assert late.transition is not None and not late.transition.takes_unit
    retry = reservation.reserve(late.transition.target)
    assert retry.granted and retry.transition is not None and retry.transition.takes_unit


def test_a_withdrawn_unit_can_be_reserved_again_by_the_clients_retry() -> None:
    withdrawn = reservation.withdraw(S.RESERVED)
    assert withdrawn is not None and withdrawn.reserved == -1
    retry = reservation.reserve(withdrawn.target)
    assert retry.granted and retry.transition is not None
    assert (retry.transition.source, retry.transition.target) == (S.WITHDRAWN, S.RESERVED)


@pytest.mark.parametrize("state", [S.COMMITTED, S.RELEASED, S.EXPIRED, S.WITHDRAWN, S.TOMBSTONE])
def test_a_withdrawal_of_anything_but_a_held_or_unseen_unit_changes_nothing(state: S) -> None:
    assert reservation.withdraw(state) is None


@pytest.mark.parametrize(
    ("state", "granted", "takes_unit"),
    [
        (None, True, True),
        (S.RESERVED, True, False),
        (S.COMMITTED, True, False),
        (S.WITHDRAWN, True, True),
        (S.TOMBSTONE, False, False),
        (S.RELEASED, False, False),
        (S.EXPIRED, False, False),
    ],
)
def test_a_reserve_is_granted_from_each_state_as_the_table_says(
    state: S | None, granted: bool, takes_unit: bool
) -> None:
    decision = reservation.reserve(state)
    assert decision.granted is granted
    assert (decision.transition is not None and decision.transition.takes_unit) is takes_unit


@pytest.mark.parametrize("state", ALL)
def test_only_a_held_unit_expires(state: S | None) -> None:
    move = reservation.expire(state)
    if state is S.RESERVED:
        assert move is not None and (move.target, move.reserved) == (S.EXPIRED, -1)
        assert move.source in reservation.EXPIRABLE
    else:
        assert move is None


@pytest.mark.parametrize("state", ALL)
def test_every_move_starts_where_the_command_found_it_and_keeps_the_counters_non_negative(state: S | None) -> None:
    moves = [
        reservation.settle(state, charged=True),
        reservation.settle(state, charged=False),
        reservation.withdraw(state),
        reservation.expire(state),
        reservation.reserve(state).transition,
    ]
    held = state is S.RESERVED
    for move in moves:
        if move is None:
            continue
        assert move.source == state
        # Only a held unit is given back, and only an unheld one is taken.
        assert move.reserved != -1 or held
        assert move.reserved != 1 or not held


def test_an_older_plan_change_never_overwrites_a_newer_one() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert plans.supersedes(now, None)
    assert plans.supersedes(now, now - timedelta(seconds=1))
    assert plans.supersedes(now, now)
    assert not plans.supersedes(now - timedelta(seconds=1), now)

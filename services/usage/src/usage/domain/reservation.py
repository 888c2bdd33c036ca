"""The lifecycle of one unit of quota, keyed by the generation's request id (the asset id).

    (none) ── reserve ──▶ reserved ── settle(charged) ─────▶ committed
                             ├─────── settle(not charged) ─▶ released
                             ├─────── expire ──────────────▶ expired   ─ settle ─▶ committed | released
                             └─────── withdraw ────────────▶ withdrawn ─ settle ─▶ committed | released
                                                               └ reserve (the client's retry) ─▶ reserved
    (none) ── withdraw ──▶ tombstone ── reserve (the late one, refused) ─▶ withdrawn

Why each state exists:
- `released` is the catalog's verdict "not charged"; it is final, so a late success (ready, not
  charged) after an error changes nothing.
- `expired` and `withdrawn` gave the unit back without a verdict (the sweeper after the deadline;
  the gateway when it did not store the asset). The catalog is the one authority on the outcome,
  so a verdict that still comes is applied: charged counts the unit, not charged just closes it.
- `withdrawn` can be reserved again: the gateway only withdraws when it stored no asset, so a
  reserve for that id is the client retrying with the same Idempotency-Key.
- `tombstone` is a withdrawal that arrived before its reserve (the gateway's reserve call timed
  out). The first reserve to arrive after it is that lost call: it is refused and takes nothing,
  and the tombstone becomes `withdrawn`, so a retry after it gets through.

Where each move is applied: RESERVE (and RESERVE_AGAIN, for an id withdrawn or tombstoned by a
gateway of the previous release) is taken in the gateway's accept transaction, through usage's
function `usage.reserve_units` (migration 0003), so the asset and its unit commit together; the
ReserveQuota request below it is kept for gateways of the previous release. Every later move is
the ledger's, from events (the catalog's verdict) and usage's own sweeper.

Every transition is a value: the ledger applies it with a conditional update from `source` and
moves the month's counters by `used` and `reserved`. Nothing here touches a database.
"""

from dataclasses import dataclass
from enum import StrEnum


class ReservationState(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    TOMBSTONE = "tombstone"


# Reservations whose unit is not held but whose outcome is still open.
_UNHELD = (ReservationState.EXPIRED, ReservationState.WITHDRAWN, ReservationState.TOMBSTONE)


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move; `name` is what the ledger logs (the event of the move)."""

    name: str
    source: ReservationState | None  # None: no row for the request id yet
    target: ReservationState
    used: int = 0
    reserved: int = 0

    @property
    def takes_unit(self) -> bool:
        """A move that takes a unit is allowed only under the quota's conditional upsert."""
        return self.reserved > 0


@dataclass(frozen=True, slots=True)
class ReserveDecision:
    granted: bool
    transition: Transition | None = None


RESERVE = Transition("quota_reserved", None, ReservationState.RESERVED, reserved=1)
RESERVE_AGAIN = Transition("quota_reserved_again", ReservationState.WITHDRAWN, ReservationState.RESERVED, reserved=1)
REFUSE_LATE_RESERVE = Transition("quota_late_reserve_refused", ReservationState.TOMBSTONE, ReservationState.WITHDRAWN)
COMMIT = Transition("quota_committed", ReservationState.RESERVED, ReservationState.COMMITTED, used=1, reserved=-1)
RELEASE = Transition("quota_released", ReservationState.RESERVED, ReservationState.RELEASED, reserved=-1)
EXPIRE = Transition("quota_expired", ReservationState.RESERVED, ReservationState.EXPIRED, reserved=-1)
WITHDRAW = Transition("quota_withdrawn", ReservationState.RESERVED, ReservationState.WITHDRAWN, reserved=-1)
WITHDRAW_UNSEEN = Transition("quota_tombstoned", None, ReservationState.TOMBSTONE)
_COMMIT_UNHELD = {
    state: Transition("quota_committed_unheld", state, ReservationState.COMMITTED, used=1) for state in _UNHELD
}
_RELEASE_UNHELD = {state: Transition("quota_closed", state, ReservationState.RELEASED) for state in _UNHELD}

EXPIRABLE = (EXPIRE.source,)


def reserve(state: ReservationState | None) -> ReserveDecision:
    """A reserve for a request id in `state`: granted (taking a unit if the transition says so)?"""
    if state is None:
        return ReserveDecision(True, RESERVE)
    if state in (ReservationState.RESERVED, ReservationState.COMMITTED):
        return ReserveDecision(True)  # a retry of a request that already holds (or used) its unit
    if state is ReservationState.WITHDRAWN:
        return ReserveDecision(True, RESERVE_AGAIN)
    if state is ReservationState.TOMBSTONE:
        return ReserveDecision(False, REFUSE_LATE_RESERVE)
    return ReserveDecision(False)  # released or expired: that generation has ended


def reserve_batch(states: list[ReservationState | None]) -> ReserveDecision:
    """Variants reserved together, all or none. A batch never seen takes a unit for each (RESERVE,
    under one conditional update for the lot); a retry of a batch that holds all its units takes
    nothing more; anything else (part of the batch ended or withdrawn) is refused whole, because a
    batch with some variants missing is not what the user asked for."""
    if all(state is None for state in states):
        return ReserveDecision(True, RESERVE)
    if all(state in (ReservationState.RESERVED, ReservationState.COMMITTED) for state in states):
        return ReserveDecision(True)
    return ReserveDecision(False)


def settle(state: ReservationState | None, *, charged: bool) -> Transition | None:
    """The catalog's verdict; None when it changes nothing (already settled, or never reserved)."""
    if state is ReservationState.RESERVED:
        return COMMIT if charged else RELEASE
    if state in _UNHELD:
        assert state is not None
        return _COMMIT_UNHELD[state] if charged else _RELEASE_UNHELD[state]
    return None


def withdraw(state: ReservationState | None) -> Transition | None:
    """The gateway gives the unit back because it did not store the asset."""
    if state is None:
        return WITHDRAW_UNSEEN
    if state is ReservationState.RESERVED:
        return WITHDRAW
    return None


def expire(state: ReservationState | None) -> Transition | None:
    """The sweeper gives back a unit whose deadline and grace have passed with no verdict."""
    return EXPIRE if state is ReservationState.RESERVED else None

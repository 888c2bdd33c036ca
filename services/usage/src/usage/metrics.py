"""Quota metrics: reserve requests granted or refused, and every move of a reservation by name
(`quota_committed`, `quota_released`, `quota_withdrawn`, `quota_expired`, ...). Counted by the
handlers after the ledger's transaction, and only for moves it actually made."""

from prometheus_client import Counter

from .domain.reservation import Transition

# Units are taken in the gateway's accept transaction (its aistudio_quota_reservations_total); these
# are ReserveQuota requests from gateways of the previous release.
RESERVE_REQUESTS = Counter("aistudio_quota_reserve_requests_total", "ReserveQuota requests, by result.", ["result"])
MOVES = Counter("aistudio_quota_moves_total", "Reservation moves made, by name.", ["move"])
COMMITS = Counter("aistudio_quota_commits_total", "Units committed (the user was charged).")
RELEASES = Counter("aistudio_quota_releases_total", "Units given back (released, withdrawn or expired).")


def reserved(granted: bool) -> None:
    RESERVE_REQUESTS.labels("granted" if granted else "refused").inc()


def moved(move: Transition | None) -> None:
    if move is None:
        return
    MOVES.labels(move.name).inc()
    if move.used > 0:
        COMMITS.inc()
    elif move.reserved < 0:
        RELEASES.inc()

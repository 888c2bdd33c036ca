"""The asset's lifecycle, as the user sees it: the catalog is the one authority on the outcome.

    processing ──complete──▶ ready      (charged)
    processing ──fail──────▶ error      (not charged)
    processing ──cancel────▶ cancelled  (not charged: the user stopped it)
    error ───────complete──▶ ready      (late: delivered, never charged, because we told the
                                         user it failed and gave the unit back)
    ready, error ─fail─────▶ (nothing: a failure after the outcome changes nothing)
    cancelled ───complete──▶ (nothing: unlike a late result after an error, a result after a
                              cancel is never delivered; the user asked for it not to be)

A cancel racing a completion is decided by whichever conditional move takes the row first:
each starts only from `processing`, so exactly one of them happens.

Every move that settles the outcome emits GenerationSettled, which is all the usage service
acts on: the user is charged if and only if the asset they see is ready and was not late.

Captions follow the media: none → pending when the media is ready, then ready or failed; a
generated caption always wins over an earlier failure, a failure never replaces a caption.
"""

from dataclasses import dataclass

from aistudio_contracts import AssetStatus, CaptionStatus


@dataclass(frozen=True, slots=True)
class Move:
    """One named transition: the statuses it may start from, where it goes, what it settles."""

    name: str
    from_statuses: tuple[AssetStatus, ...]
    to: AssetStatus
    # None: the move settles nothing (the outcome was already settled, or is not yet known).
    charged: bool | None
    late: bool = False

    @property
    def from_values(self) -> list[str]:
        return [status.value for status in self.from_statuses]


RECORD_TASK = Move("record_task", (AssetStatus.PROCESSING,), AssetStatus.PROCESSING, charged=None)
COMPLETE = Move("complete", (AssetStatus.PROCESSING,), AssetStatus.READY, charged=True)
DELIVER_LATE = Move("deliver_late", (AssetStatus.ERROR,), AssetStatus.READY, charged=False, late=True)
FAIL = Move("fail", (AssetStatus.PROCESSING,), AssetStatus.ERROR, charged=False)
CANCEL = Move("cancel", (AssetStatus.PROCESSING,), AssetStatus.CANCELLED, charged=False)

# A completion is tried as COMPLETE first; if the asset had already failed, as DELIVER_LATE.
COMPLETION_MOVES = (COMPLETE, DELIVER_LATE)


def completion_from(previous: AssetStatus) -> Move | None:
    """Which move a GenerationCompleted makes from `previous` (None: nothing changes)."""
    return next((move for move in COMPLETION_MOVES if previous in move.from_statuses), None)


def failure_from(previous: AssetStatus) -> Move | None:
    return FAIL if previous in FAIL.from_statuses else None


def cancel_from(previous: AssetStatus) -> Move | None:
    """Which move a user's cancel makes from `previous` (None: too late, the outcome is settled)."""
    return CANCEL if previous in CANCEL.from_statuses else None


CAPTION_PENDING_FROM = (CaptionStatus.NONE,)
CAPTION_READY_FROM = (CaptionStatus.NONE, CaptionStatus.PENDING, CaptionStatus.FAILED, CaptionStatus.READY)
CAPTION_FAILED_FROM = (CaptionStatus.NONE, CaptionStatus.PENDING, CaptionStatus.FAILED)


def values(statuses: tuple[CaptionStatus, ...]) -> list[str]:
    return [status.value for status in statuses]

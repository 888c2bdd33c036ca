"""The asset lifecycle's decision table, without servers: who is charged for what the user sees."""

import pytest

from aistudio_contracts import AssetStatus, CaptionStatus
from gateway.domain import lifecycle


@pytest.mark.parametrize(
    ("previous", "to", "charged", "late"),
    [
        (AssetStatus.PROCESSING, AssetStatus.READY, True, False),
        (AssetStatus.ERROR, AssetStatus.READY, False, True),
    ],
)
def test_a_completion_makes_the_asset_ready_and_charges_only_if_the_user_was_not_told_it_failed(
    previous: AssetStatus, to: AssetStatus, charged: bool, late: bool
) -> None:
    move = lifecycle.completion_from(previous)
    assert move is not None
    assert (move.to, move.charged, move.late) == (to, charged, late)


def test_a_completion_of_a_ready_asset_changes_nothing() -> None:
    assert lifecycle.completion_from(AssetStatus.READY) is None


def test_a_failure_ends_only_a_processing_asset_and_never_charges() -> None:
    move = lifecycle.failure_from(AssetStatus.PROCESSING)
    assert move is not None and move.to is AssetStatus.ERROR and move.charged is False
    assert lifecycle.failure_from(AssetStatus.READY) is None
    assert lifecycle.failure_from(AssetStatus.ERROR) is None


def test_recording_a_task_settles_nothing_and_needs_a_processing_asset() -> None:
    assert lifecycle.RECORD_TASK.charged is None
    assert lifecycle.RECORD_TASK.from_statuses == (AssetStatus.PROCESSING,)


def test_every_settling_move_says_whether_the_user_is_charged() -> None:
    for move in (lifecycle.COMPLETE, lifecycle.DELIVER_LATE, lifecycle.FAIL):
        assert move.charged is not None
        assert move.charged == (move.to is AssetStatus.READY and not move.late)


def test_captions_wait_for_the_media_and_a_caption_beats_an_earlier_failure() -> None:
    assert lifecycle.CAPTION_PENDING_FROM == (CaptionStatus.NONE,)
    assert CaptionStatus.FAILED in lifecycle.CAPTION_READY_FROM
    assert CaptionStatus.READY not in lifecycle.CAPTION_FAILED_FROM

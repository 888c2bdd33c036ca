"""The cancel's rules in each lifecycle, without servers."""

from aistudio_contracts import AssetStatus, Provider
from gateway.domain import lifecycle
from generator.domain.job import JobState, can_adopt, cancel_from, is_cancelled
from poller.domain.task import CANCEL, Phase


def test_only_a_processing_asset_can_be_cancelled_and_a_cancel_is_never_charged() -> None:
    assert lifecycle.cancel_from(AssetStatus.PROCESSING) is lifecycle.CANCEL
    assert lifecycle.CANCEL.charged is False and lifecycle.CANCEL.to is AssetStatus.CANCELLED
    for settled in (AssetStatus.READY, AssetStatus.ERROR, AssetStatus.CANCELLED):
        assert lifecycle.cancel_from(settled) is None


def test_a_result_after_a_cancel_is_never_delivered_unlike_one_after_an_error() -> None:
    assert lifecycle.completion_from(AssetStatus.CANCELLED) is None
    assert lifecycle.failure_from(AssetStatus.CANCELLED) is None
    assert lifecycle.completion_from(AssetStatus.ERROR) is lifecycle.DELIVER_LATE


def test_a_job_cancelled_before_its_request_left_sends_nothing_and_one_in_flight_is_marked_so() -> None:
    for unsent in (JobState.WAITING, JobState.CLAIMED):
        move = cancel_from(unsent)
        assert move is not None and not move.in_flight
    for maybe_sent in (JobState.SUBMITTING, JobState.IN_DOUBT):
        move = cancel_from(maybe_sent)
        assert move is not None and move.in_flight
    for past in (JobState.SUBMITTED, JobState.COMPLETED, JobState.FAILED):
        assert cancel_from(past) is None


def test_a_cancelled_job_never_adopts_a_task_from_a_callback() -> None:
    assert is_cancelled(JobState.FAILED, "cancelled")
    assert not can_adopt(JobState.FAILED, Provider.KIE_VEO3, None, "cancelled")
    assert can_adopt(JobState.FAILED, Provider.KIE_VEO3, None, "unknown_outcome")


def test_a_cancel_stops_a_task_in_either_live_phase() -> None:
    assert CANCEL.sources == {Phase.PENDING, Phase.CHECKING} and CANCEL.target is Phase.DONE

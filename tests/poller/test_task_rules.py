"""The poller's decision table: what each answer means for a task, with no servers."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from aistudio_contracts import FailureReason, MediaType, Provider
from aistudio_providers import TaskFailure, TaskState, TaskStatus
from poller.domain.task import (
    CHECK_AGAIN,
    CLAIM,
    COMPLETE,
    EXPIRE,
    FAIL,
    LOST_RESULT_MESSAGE,
    RENEW,
    TIMEOUT_MESSAGE,
    CheckAgain,
    Finish,
    Outcome,
    Phase,
    Policy,
    TakeCustody,
    TrackedTask,
    after_custody_error,
    after_download_error,
    after_status,
    after_status_error,
    first_check_in,
)

DEADLINE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BEFORE = DEADLINE - timedelta(seconds=1)
POLICY = Policy(interval=30.0, custody_grace_seconds=600.0)


def task(*, errors: int = 0, checks: int = 1, found: bool = False) -> TrackedTask:
    return TrackedTask(
        asset_id=uuid4(),
        user_id="u",
        provider=Provider.KIE_VEO3,
        media_type=MediaType.VIDEO,
        prompt="p",
        task_id="t",
        checks=checks,
        consecutive_errors=errors,
        deadline_at=DEADLINE,
        result_found_at=BEFORE if found else None,
    )


def status(state: TaskState, *urls: str, failure: TaskFailure | None = None) -> TaskStatus:
    return TaskStatus("t", state, tuple(urls), failure=failure)


@pytest.mark.parametrize("now", [BEFORE, DEADLINE, DEADLINE + timedelta(hours=1)])
def test_a_result_found_made_is_taken_into_custody_before_at_or_after_the_deadline(now: datetime) -> None:
    assert after_status(task(), status(TaskState.SUCCEEDED, "https://r/1.mp4"), now, POLICY) == TakeCustody(
        "https://r/1.mp4"
    )


def test_a_success_without_a_result_url_is_a_lost_result() -> None:
    decision = after_status(task(), status(TaskState.SUCCEEDED), BEFORE, POLICY)
    assert decision == Finish(Outcome.FAILED, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE)


def test_a_provider_failure_fails_with_the_providers_reason() -> None:
    failure = TaskFailure(FailureReason.CONTENT_POLICY, "Refused by the provider's policy.")
    decision = after_status(task(), status(TaskState.FAILED, failure=failure), BEFORE, POLICY)
    assert decision == Finish(Outcome.FAILED, FailureReason.CONTENT_POLICY, "Refused by the provider's policy.")


def test_a_provider_failure_without_details_is_a_provider_error() -> None:
    decision = after_status(task(), status(TaskState.FAILED), DEADLINE + timedelta(seconds=5), POLICY)
    assert isinstance(decision, Finish) and decision.reason is FailureReason.PROVIDER_ERROR


def test_a_task_still_running_before_its_deadline_is_checked_again_after_an_interval() -> None:
    assert after_status(task(checks=10), status(TaskState.PENDING), BEFORE, POLICY) == CheckAgain(30.0)


@pytest.mark.parametrize("now", [DEADLINE, DEADLINE + timedelta(minutes=5)])
def test_a_task_still_running_at_its_deadline_expires_as_a_timeout(now: datetime) -> None:
    assert after_status(task(), status(TaskState.PENDING), now, POLICY) == Finish(
        Outcome.TIMED_OUT, FailureReason.TIMEOUT, TIMEOUT_MESSAGE
    )


def test_a_failing_status_check_backs_off_and_never_ends_the_job_before_the_deadline() -> None:
    first = after_status_error(task(errors=0), "HTTP 500", BEFORE, POLICY)
    third = after_status_error(task(errors=2), "HTTP 500", BEFORE, POLICY)
    assert first == CheckAgain(30.0, error="HTTP 500")
    assert isinstance(third, CheckAgain) and third.delay == 120.0


def test_a_failing_status_check_past_the_deadline_expires() -> None:
    decision = after_status_error(task(), "HTTP 500", DEADLINE, POLICY)
    assert isinstance(decision, Finish) and decision.outcome is Outcome.TIMED_OUT


def test_a_failing_status_check_after_the_result_was_found_keeps_custody_going_past_the_deadline() -> None:
    decision = after_status_error(task(found=True), "HTTP 500", DEADLINE + timedelta(minutes=1), POLICY)
    assert isinstance(decision, CheckAgain) and decision.result_found


def test_a_download_that_may_work_later_is_retried_even_past_the_deadline_within_the_grace() -> None:
    for now in (BEFORE, DEADLINE + timedelta(minutes=9)):
        decision = after_download_error(task(), "HTTP 503", True, now, POLICY)
        assert isinstance(decision, CheckAgain) and decision.result_found and decision.delay == 10.0


def test_a_download_that_never_will_work_is_a_lost_result() -> None:
    assert after_download_error(task(), "HTTP 404", False, BEFORE, POLICY) == Finish(
        Outcome.FAILED, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE
    )


def test_a_failing_store_is_retried_until_the_grace_after_the_deadline_then_the_result_is_lost() -> None:
    within = after_custody_error(task(errors=3), "store down", DEADLINE + timedelta(seconds=599), POLICY)
    after = after_custody_error(task(errors=3), "store down", DEADLINE + timedelta(seconds=600), POLICY)
    assert isinstance(within, CheckAgain) and within.error == "store down" and within.result_found
    assert after == Finish(Outcome.FAILED, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE)


def test_store_retries_back_off_from_the_short_custody_interval() -> None:
    delays = [after_custody_error(task(errors=n), "x", BEFORE, POLICY) for n in range(4)]
    assert [d.delay for d in delays if isinstance(d, CheckAgain)] == [10.0, 20.0, 40.0, 80.0]


@pytest.mark.parametrize(
    ("adopted", "early", "expected"), [(False, False, 45.0), (True, False, 0.0), (False, True, 0.0), (True, True, 0.0)]
)
def test_a_task_whose_provider_already_called_back_is_due_at_once(adopted: bool, early: bool, expected: float) -> None:
    assert first_check_in(45.0, adopted=adopted, early_callback=early) == expected


def test_only_a_waiting_task_can_be_claimed_and_only_a_checking_one_renewed_or_rescheduled() -> None:
    assert CLAIM.sources == {Phase.PENDING} and CLAIM.target is Phase.CHECKING
    assert RENEW.sources == CHECK_AGAIN.sources == {Phase.CHECKING}
    assert CHECK_AGAIN.target is Phase.PENDING


def test_every_outcome_ends_a_live_task_and_none_leaves_done() -> None:
    for transition in (COMPLETE, FAIL, EXPIRE):
        assert transition.sources == {Phase.PENDING, Phase.CHECKING}
        assert transition.target is Phase.DONE
        assert Phase.DONE not in transition.sources

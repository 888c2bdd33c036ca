"""The generator's job rules as a decision table, without servers: one paid call per job, never
resent blindly, nothing after the deadline, and a fallback for images."""

from datetime import UTC, datetime, timedelta

import pytest

from aistudio_contracts import FailureReason, MediaType, Provider
from aistudio_providers import ErrorKind
from generator.domain.job import (
    Doubt,
    Fail,
    JobState,
    JobView,
    Policy,
    Retry,
    Submit,
    WaitUntil,
    after_error,
    can_adopt,
    next_step,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(in_doubt_grace=timedelta(seconds=120), callbacks_enabled=True, max_attempts=12)
IMAGE, VIDEO, GEMINI = Provider.KIE_4O_IMAGE, Provider.KIE_VEO3, Provider.GEMINI_FLASH


def job(
    provider: Provider = IMAGE,
    state: JobState = JobState.CLAIMED,
    *,
    deadline_in: float = 600,
    attempts: int = 0,
    gemini_calls: int = 0,
    in_doubt_for: float | None = None,
) -> JobView:
    media = MediaType.VIDEO if provider is VIDEO else MediaType.IMAGE
    since = NOW - timedelta(seconds=in_doubt_for) if in_doubt_for is not None else None
    return JobView(state, provider, media, NOW + timedelta(seconds=deadline_in), attempts, gemini_calls, since)


def error(view: JobView, kind: ErrorKind, *, backoff: float = 5.0, policy: Policy = POLICY) -> object:
    return after_error(view, kind, FailureReason.PROVIDER_ERROR, "said no", NOW, policy, backoff)


def test_a_claimed_job_is_sent_to_its_provider() -> None:
    assert next_step(job(), NOW, POLICY) == Submit(IMAGE)


def test_nothing_is_sent_once_the_deadline_has_passed() -> None:
    step = next_step(job(deadline_in=-1), NOW, POLICY)
    assert isinstance(step, Fail) and step.reason is FailureReason.TIMEOUT


def test_an_ambiguous_kie_answer_leaves_the_job_in_doubt_never_resent() -> None:
    assert error(job(VIDEO, JobState.SUBMITTING), ErrorKind.AMBIGUOUS) == Doubt()
    assert error(job(IMAGE, JobState.SUBMITTING), ErrorKind.AMBIGUOUS) == Doubt()


def test_a_video_in_doubt_waits_for_its_callback_until_the_deadline() -> None:
    view = job(VIDEO, JobState.IN_DOUBT, in_doubt_for=500, deadline_in=100)
    assert next_step(view, NOW, POLICY) == WaitUntil(NOW + timedelta(seconds=100))


def test_a_video_in_doubt_fails_as_unknown_outcome_at_the_deadline() -> None:
    step = next_step(job(VIDEO, JobState.IN_DOUBT, in_doubt_for=900, deadline_in=0), NOW, POLICY)
    assert isinstance(step, Fail) and step.reason is FailureReason.UNKNOWN_OUTCOME


def test_an_image_in_doubt_waits_out_the_grace_then_goes_to_gemini() -> None:
    assert next_step(job(IMAGE, JobState.IN_DOUBT, in_doubt_for=10), NOW, POLICY) == WaitUntil(
        NOW + timedelta(seconds=110)
    )
    assert next_step(job(IMAGE, JobState.IN_DOUBT, in_doubt_for=121), NOW, POLICY) == Submit(GEMINI)


def test_without_callbacks_an_image_in_doubt_goes_to_gemini_and_a_video_fails_at_once() -> None:
    no_callbacks = Policy(timedelta(seconds=120), callbacks_enabled=False, max_attempts=12)
    assert next_step(job(IMAGE, JobState.IN_DOUBT, in_doubt_for=0), NOW, no_callbacks) == Submit(GEMINI)
    step = next_step(job(VIDEO, JobState.IN_DOUBT, in_doubt_for=0), NOW, no_callbacks)
    assert isinstance(step, Fail) and step.reason is FailureReason.UNKNOWN_OUTCOME


def test_a_lost_gemini_call_is_made_again_once_and_only_once() -> None:
    assert next_step(job(GEMINI, JobState.IN_DOUBT, gemini_calls=1), NOW, POLICY) == Submit(
        GEMINI, repeats_lost_call=True
    )
    step = next_step(job(GEMINI, JobState.IN_DOUBT, gemini_calls=2), NOW, POLICY)
    assert isinstance(step, Fail) and step.reason is FailureReason.UNKNOWN_OUTCOME
    assert error(job(GEMINI, JobState.SUBMITTING, gemini_calls=1), ErrorKind.AMBIGUOUS) == Submit(
        GEMINI, repeats_lost_call=True
    )
    assert isinstance(error(job(GEMINI, JobState.SUBMITTING, gemini_calls=2), ErrorKind.AMBIGUOUS), Fail)


@pytest.mark.parametrize("kind", [ErrorKind.REFUSED, ErrorKind.ACCOUNT, ErrorKind.FAILED])
def test_an_image_kie_did_not_take_goes_to_gemini(kind: ErrorKind) -> None:
    assert error(job(IMAGE, JobState.SUBMITTING), kind) == Submit(GEMINI)


def test_a_definite_kie_failure_of_a_video_fails_clearly() -> None:
    step = error(job(VIDEO, JobState.SUBMITTING), ErrorKind.FAILED)
    assert isinstance(step, Fail) and step.reason is FailureReason.PROVIDER_ERROR


def test_a_refused_video_is_retried_later_until_attempts_or_deadline_run_out() -> None:
    assert error(job(VIDEO, JobState.SUBMITTING), ErrorKind.REFUSED) == Retry(NOW + timedelta(seconds=5))
    assert isinstance(error(job(VIDEO, JobState.SUBMITTING, attempts=11), ErrorKind.REFUSED), Fail)
    assert isinstance(error(job(VIDEO, JobState.SUBMITTING, deadline_in=3), ErrorKind.REFUSED), Fail)


def test_a_refused_gemini_call_is_retried_later() -> None:
    assert error(job(GEMINI, JobState.SUBMITTING, gemini_calls=1), ErrorKind.REFUSED) == Retry(
        NOW + timedelta(seconds=5)
    )


def test_a_request_the_provider_rejects_fails_with_its_reason() -> None:
    step = after_error(
        job(VIDEO, JobState.SUBMITTING), ErrorKind.USER, FailureReason.CONTENT_POLICY, "no", NOW, POLICY, 5
    )
    assert step == Fail(FailureReason.CONTENT_POLICY, "no")


@pytest.mark.parametrize(
    ("state", "provider", "task_id", "reason", "adoptable"),
    [
        (JobState.IN_DOUBT, VIDEO, None, None, True),
        (JobState.SUBMITTING, IMAGE, None, None, True),
        (JobState.FAILED, VIDEO, None, "unknown_outcome", True),
        (JobState.FAILED, VIDEO, None, "content_policy", False),
        (JobState.SUBMITTED, VIDEO, "t1", None, False),
        (JobState.IN_DOUBT, GEMINI, None, None, False),
        (JobState.WAITING, VIDEO, None, None, False),
    ],
)
def test_a_callback_adopts_only_a_kie_job_whose_request_may_have_reached_kie(
    state: JobState, provider: Provider, task_id: str | None, reason: str | None, adoptable: bool
) -> None:
    assert can_adopt(state, provider, task_id, reason) is adoptable

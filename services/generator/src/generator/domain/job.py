"""A generation job's lifecycle in the generator: what happens next, decided without I/O.

    waiting ──claim──▶ claimed ──start──▶ submitting ──task id──▶ submitted
       ▲                  │                  │  │
       └──reschedule──────┘◀──refused────────┘  └──answer lost / worker gone──▶ in_doubt
    in_doubt ──callback names the task──▶ submitted (adopted)
    in_doubt ──image, grace over──▶ claimed on Gemini (a KIE task that appears later is waste)
    (a 4o batch never falls back: Gemini would make one image for a task of several; see `fallback_allowed`)
    in_doubt ──Gemini call lost, first time──▶ submitting again (that call is waste)
    any open state ──deadline passed / definite failure──▶ failed
    any open state ──the user cancelled──▶ failed (reason cancelled; see `cancel_from`)

`claimed` means a worker holds the job and has provably sent nothing: a worker that dies there
leaves a job that is simply sent later. `submitting` is committed before any paid request, so a
worker that dies there leaves a job in doubt, never one that is sent blindly a second time.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aistudio_contracts import IMAGE_FALLBACK_PROVIDER, PROVIDERS, FailureReason, MediaType, Provider
from aistudio_providers import ErrorKind

UNKNOWN_OUTCOME_MESSAGE = (
    "We could not confirm whether the provider accepted this request, so it was stopped rather than "
    "sent twice. It was not counted against your quota; please try again."
)
GAVE_UP_MESSAGE = "The provider stayed unavailable, so the generation was stopped. It was not counted."
TIMEOUT_MESSAGE = "The generation could not start before its deadline, so it was stopped. It was not counted."
PROVIDER_FAILED_MESSAGE = "The provider failed to produce a result. It was not counted; please try again."
CANCELLED_MESSAGE = "Cancelled by the user."


class JobState(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    SUBMITTING = "submitting"
    IN_DOUBT = "in_doubt"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"


OPEN = frozenset({JobState.WAITING, JobState.CLAIMED, JobState.SUBMITTING, JobState.IN_DOUBT})
# A callback naming a task adopts it from these: the request may have reached KIE, and we hold no task id.
ADOPTABLE = frozenset({JobState.SUBMITTING, JobState.IN_DOUBT, JobState.FAILED})
# Where a job that is not (yet) being worked on can be claimed from.
CLAIMABLE = frozenset({JobState.WAITING, JobState.IN_DOUBT})
# Where a worker starts a paid call from.
STARTABLE = frozenset({JobState.CLAIMED, JobState.IN_DOUBT})
# Cancelled with provably nothing sent: no paid request ever leaves for the job.
CANCELLABLE_UNSENT = frozenset({JobState.WAITING, JobState.CLAIMED})
# Cancelled while a paid request may be out: nothing more is sent (no fallback, no repeat), and
# whatever that request produces is waste.
CANCELLABLE_IN_FLIGHT = frozenset({JobState.SUBMITTING, JobState.IN_DOUBT})
# Gemini is asked at most twice: a second time only when the first call's answer was lost.
MAX_GEMINI_CALLS = 2


@dataclass(frozen=True, slots=True)
class Policy:
    in_doubt_grace: timedelta
    callbacks_enabled: bool
    max_attempts: int


@dataclass(frozen=True, slots=True)
class JobView:
    state: JobState
    provider: Provider
    media_type: MediaType
    deadline_at: datetime
    attempts: int
    gemini_calls: int
    in_doubt_since: datetime | None
    # The job makes several variants in one paid task (4o's nVariants); see domain/variants.py.
    batch: bool = False


def fallback_allowed(job: JobView) -> bool:
    """May Gemini make the image KIE did not? Not for a batch: one Gemini image cannot stand for a
    task of several, and a fallback for the lead alone would leave the other variants waiting for
    their deadline. A batch's definite failure fails every variant at once instead."""
    return job.media_type is MediaType.IMAGE and not job.batch


@dataclass(frozen=True, slots=True)
class Submit:
    provider: Provider
    # True when this call repeats one whose answer was lost: the first one is paid for and wasted.
    repeats_lost_call: bool = False


@dataclass(frozen=True, slots=True)
class Fail:
    reason: FailureReason
    message: str


@dataclass(frozen=True, slots=True)
class WaitUntil:
    at: datetime


@dataclass(frozen=True, slots=True)
class Retry:
    """Send again later: nothing was billed (a refusal)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Doubt:
    """The request may have reached the provider: wait for its callback, never resend blindly."""


Step = Submit | Fail | WaitUntil | Retry | Doubt


def is_kie(provider: Provider) -> bool:
    return PROVIDERS[provider].asynchronous


@dataclass(frozen=True, slots=True)
class Cancel:
    """A cancel's move: to `failed` (reason cancelled); `in_flight` says whether paid work may exist."""

    in_flight: bool


def cancel_from(state: JobState) -> Cancel | None:
    """What a user's cancel does to a job in `state` (None: nothing; a submitted job's task is
    the poller's to stop, and a finished job has nothing left to stop)."""
    if state in CANCELLABLE_UNSENT:
        return Cancel(in_flight=False)
    if state in CANCELLABLE_IN_FLIGHT:
        return Cancel(in_flight=True)
    return None


def is_cancelled(state: JobState, failure_reason: str | None) -> bool:
    return state is JobState.FAILED and failure_reason == FailureReason.CANCELLED.value


def can_adopt(state: JobState, provider: Provider, task_id: str | None, failure_reason: str | None) -> bool:
    """May a KIE callback naming a task make it this job's task? Only for a KIE job with no task id
    whose request may have reached KIE: in flight, in doubt, or failed because its outcome was unknown."""
    if not is_kie(provider) or task_id is not None or state not in ADOPTABLE:
        return False
    return state is not JobState.FAILED or failure_reason == FailureReason.UNKNOWN_OUTCOME.value


def next_step(job: JobView, now: datetime, policy: Policy) -> Step:
    """What a worker that has just claimed `job` does."""
    if job.state is JobState.IN_DOUBT:
        return _in_doubt(job, now, policy)
    if now >= job.deadline_at:
        return Fail(FailureReason.TIMEOUT, TIMEOUT_MESSAGE)
    return Submit(job.provider)


def _in_doubt(job: JobView, now: datetime, policy: Policy) -> Step:
    if not is_kie(job.provider):
        # A lost Gemini answer is gone for good: asking again is the only way the user gets anything.
        if job.gemini_calls < MAX_GEMINI_CALLS and now < job.deadline_at:
            return Submit(job.provider, repeats_lost_call=True)
        return Fail(FailureReason.UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MESSAGE)
    since = job.in_doubt_since or now
    grace_over = now >= since + policy.in_doubt_grace or not policy.callbacks_enabled
    if fallback_allowed(job) and grace_over and now < job.deadline_at:
        return Submit(IMAGE_FALLBACK_PROVIDER)
    if now >= job.deadline_at or (grace_over and not policy.callbacks_enabled):
        return Fail(FailureReason.UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MESSAGE)
    if fallback_allowed(job):
        return WaitUntil(min(since + policy.in_doubt_grace, job.deadline_at))
    return WaitUntil(job.deadline_at)


def after_error(
    job: JobView, kind: ErrorKind, reason: FailureReason, message: str, now: datetime, policy: Policy, backoff: float
) -> Step:
    """What follows a provider call that raised a classified error."""
    image = fallback_allowed(job)
    if is_kie(job.provider):
        if kind is ErrorKind.AMBIGUOUS:
            return Doubt()
        if image and kind in (ErrorKind.REFUSED, ErrorKind.ACCOUNT, ErrorKind.FAILED):
            # Nothing was billed and the user asked for an image: the fallback makes one now.
            return Submit(IMAGE_FALLBACK_PROVIDER) if now < job.deadline_at else _timed_out()
        if kind is ErrorKind.FAILED:
            return Fail(FailureReason.PROVIDER_ERROR, PROVIDER_FAILED_MESSAGE)
    elif kind is ErrorKind.AMBIGUOUS:
        if job.gemini_calls < MAX_GEMINI_CALLS and now < job.deadline_at:
            return Submit(job.provider, repeats_lost_call=True)
        return Fail(reason, message)
    if kind is ErrorKind.REFUSED:
        retry_at = now + timedelta(seconds=backoff)
        if job.attempts + 1 >= policy.max_attempts or retry_at >= job.deadline_at:
            return Fail(FailureReason.PROVIDER_UNAVAILABLE, GAVE_UP_MESSAGE)
        return Retry(retry_at)
    return Fail(reason, message)


def _timed_out() -> Fail:
    return Fail(FailureReason.TIMEOUT, TIMEOUT_MESSAGE)

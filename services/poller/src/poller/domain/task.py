"""The life of one provider task as the poller follows it, and what each check's answer means.

    (TaskStarted) ──track──▶ pending ──claim──▶ checking ──check_again──▶ pending
                                │                  │
                                │                  ├─complete──▶ done (completed)
                                └──────────────────┼─fail──────▶ done (failed)
                                                   └─expire────▶ done (timed_out)
    pending, checking ──cancel (the user)──▶ done (cancelled), emitting nothing
    (TaskStarted after a cancel) ──track_cancelled──▶ done (cancelled)
    pending, checking ──cancel_variant (one asset of a 4o batch, others still wanted)──▶ unchanged

A 4o task makes several assets. Cancelling one of them ends only that asset: the task is followed
while any asset is wanted (`cancel_asset`), is done (cancelled) when none is, and its outcome
reaches the wanted assets only (`deliveries`, `failed_all`): a result made for a cancelled
variant is never delivered (its share of the cost is waste, in the generator's ledger).

`checking` is `pending` under a live lease: one replica owns the check and renews the lease
while it runs (a large download can take minutes), so no other replica starts a second one.
A callback makes a pending task due now and a checking one due again as soon as its check
ends (`recheck`); a callback that comes before the task is tracked is kept and applied by
`track`. Every outcome leaves the task `done` exactly once, emitting its one event — except a
cancel: the catalog already settled the asset, and a check still running when the cancel lands
finds the task done and delivers nothing. A task done as `cancelled` is the record of a paid
task that delivered nothing (waste).

The rules are plain functions of the task and the time: the tracker asks them what to do and
the repository (tasks.py, the table's only writer) applies the transition they name.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from aistudio_contracts import (
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    MediaType,
    Provider,
    StoredMedia,
)
from aistudio_providers import TaskState, TaskStatus

from ..schedule import after_error_delay, pending_check_delay

TIMEOUT_MESSAGE = "The provider did not finish in time, so the generation was stopped. It was not counted."
LOST_RESULT_MESSAGE = "The provider finished but its result could not be retrieved. It was not counted."
PROVIDER_FAILED_MESSAGE = "The provider failed to produce a result."
# Retries of a result we already know exists (download, store) back off from at most this.
CUSTODY_RETRY_SECONDS = 10.0


class Phase(StrEnum):
    PENDING = "pending"  # waiting for its next check
    CHECKING = "checking"  # leased by one replica while it checks
    DONE = "done"


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[Phase]
    target: Phase


TRACK = Transition("track", frozenset(), Phase.PENDING)
CLAIM = Transition("claim", frozenset({Phase.PENDING}), Phase.CHECKING)
RENEW = Transition("renew", frozenset({Phase.CHECKING}), Phase.CHECKING)
CHECK_AGAIN = Transition("check_again", frozenset({Phase.CHECKING}), Phase.PENDING)
# A callback moves nothing between phases: it only changes when the next check happens.
CALLBACK_ARRIVED = Transition("callback_arrived", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.PENDING)
# An outcome is taken from either live phase: a lease that ran out must not keep a result from the user.
COMPLETE = Transition("complete", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.DONE)
FAIL = Transition("fail", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.DONE)
EXPIRE = Transition("expire", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.DONE)

CANCEL = Transition("cancel", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.DONE)
TRACK_CANCELLED = Transition("track_cancelled", frozenset(), Phase.DONE)
# One variant of several cancelled: the task goes on for the others, in whatever live phase it is.
CANCEL_VARIANT = Transition("cancel_variant", frozenset({Phase.PENDING, Phase.CHECKING}), Phase.PENDING)

FINISHING: dict[Outcome, Transition] = {Outcome.COMPLETED: COMPLETE, Outcome.FAILED: FAIL, Outcome.TIMED_OUT: EXPIRE}


@dataclass(frozen=True, slots=True)
class TrackedTask:
    """A claimed task: what the check needs to know about it."""

    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    prompt: str
    task_id: str
    checks: int
    consecutive_errors: int
    deadline_at: datetime
    # Set once a check found the result made: from then on the rules are about custody.
    result_found_at: datetime | None = None
    # The trace of the generation (W3C traceparent), continued by each check; the rules ignore it.
    traceparent: str | None = None
    # A 4o task making several variants: result i belongs to asset i (empty: one asset).
    variant_asset_ids: tuple[UUID, ...] = ()
    # Variants the user cancelled while the others go on: nothing is delivered to them.
    cancelled_asset_ids: frozenset[UUID] = frozenset()

    @property
    def asset_ids(self) -> tuple[UUID, ...]:
        """Every asset this task makes, in result order."""
        return self.variant_asset_ids or (self.asset_id,)

    @property
    def wanted_asset_ids(self) -> tuple[UUID, ...]:
        """The assets this task still delivers to, in result order."""
        return tuple(asset for asset in self.asset_ids if asset not in self.cancelled_asset_ids)


def task_assets(asset_id: UUID, variant_asset_ids: Sequence[UUID] | None) -> tuple[UUID, ...]:
    """Every asset a task makes, from its TaskStarted (or row)."""
    return tuple(variant_asset_ids or (asset_id,))


def track_as(assets: Sequence[UUID], cancelled: Collection[UUID]) -> Transition:
    """How a new task is kept: followed, or done at once when every asset was cancelled before it came."""
    return TRACK_CANCELLED if set(assets) <= set(cancelled) else TRACK


def cancel_asset(assets: Sequence[UUID], cancelled: Collection[UUID], asset_id: UUID) -> Transition | None:
    """What the user's cancel of `asset_id` does to a live task making `assets` of which `cancelled`
    are cancelled already: stop following it once no asset is wanted, else only mark the asset
    (None: not this task's asset, or cancelled already)."""
    if asset_id not in assets or asset_id in cancelled:
        return None
    return CANCEL if set(assets) <= {*cancelled, asset_id} else CANCEL_VARIANT


@dataclass(frozen=True, slots=True)
class Policy:
    interval: float
    # After the deadline, how long custody of a result already found is still retried.
    custody_grace_seconds: float
    typical: float | None = None
    adaptive: bool = True


@dataclass(frozen=True, slots=True)
class CheckAgain:
    delay: float
    error: str | None = None
    result_found: bool = False


@dataclass(frozen=True, slots=True)
class TakeCustody:
    origin_url: str
    # Every result to keep, one per asset of the task (the first is origin_url); a spare beyond
    # the assets (a task of four for three variants) is not kept.
    origin_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finish:
    outcome: Outcome
    reason: FailureReason
    message: str


Decision = CheckAgain | TakeCustody | Finish

EXPIRED = Finish(Outcome.TIMED_OUT, FailureReason.TIMEOUT, TIMEOUT_MESSAGE)
LOST = Finish(Outcome.FAILED, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE)


def custody_deadline(task: TrackedTask, policy: Policy) -> datetime:
    return task.deadline_at + timedelta(seconds=policy.custody_grace_seconds)


def after_status(task: TrackedTask, status: TaskStatus, now: datetime, policy: Policy) -> Decision:
    """What the provider's answer means. A result made in time or late is taken: the user gets it."""
    if status.state is TaskState.SUCCEEDED:
        wanted = len(task.asset_ids)
        if len(status.result_urls) < wanted:
            return LOST
        variants = tuple(status.result_urls[:wanted]) if task.variant_asset_ids else ()
        return TakeCustody(status.result_urls[0], variants)
    if status.state is TaskState.FAILED:
        failure = status.failure
        if failure is None:
            return Finish(Outcome.FAILED, FailureReason.PROVIDER_ERROR, PROVIDER_FAILED_MESSAGE)
        return Finish(Outcome.FAILED, failure.reason, failure.user_message)
    if now >= task.deadline_at:
        return EXPIRED
    delay = pending_check_delay(policy.interval, task.checks, typical=policy.typical, adaptive=policy.adaptive)
    return CheckAgain(delay)


def after_status_error(task: TrackedTask, error: str, now: datetime, policy: Policy) -> Decision:
    """A failing status check never ends a job by itself before the deadline; it backs off."""
    if task.result_found_at is not None:
        return after_custody_error(task, error, now, policy)
    if now >= task.deadline_at:
        return EXPIRED
    return CheckAgain(after_error_delay(task.consecutive_errors + 1, policy.interval), error=error)


def after_download_error(task: TrackedTask, error: str, retryable: bool, now: datetime, policy: Policy) -> Decision:
    """The result exists: a download that may work later is retried through the custody grace."""
    if not retryable:
        return LOST
    return after_custody_error(task, error, now, policy)


def after_custody_error(task: TrackedTask, error: str, now: datetime, policy: Policy) -> Decision:
    """Our own store or database failed while taking a result that exists: never the user's loss
    until the grace after the deadline is over."""
    if now >= custody_deadline(task, policy):
        return LOST
    delay = after_error_delay(task.consecutive_errors + 1, min(policy.interval, CUSTODY_RETRY_SECONDS))
    return CheckAgain(delay, error=error, result_found=True)


def first_check_in(scheduled: float, *, adopted: bool, early_callback: bool) -> float:
    """A task whose provider already called back (adopted from a callback, or a callback kept
    from before it was tracked) is due at once; any other waits for its scheduled first check."""
    return 0.0 if adopted or early_callback else scheduled


def deliveries(task: TrackedTask, custody: TakeCustody) -> list[tuple[UUID, str]]:
    """Which result goes to which asset: result i to asset i, for the assets still wanted only."""
    origins = custody.origin_urls or (custody.origin_url,)
    pairs = zip(task.asset_ids, origins, strict=False)
    return [(asset, origin) for asset, origin in pairs if asset not in task.cancelled_asset_ids]


def completed(task: TrackedTask, media: StoredMedia, asset_id: UUID | None = None) -> GenerationCompleted:
    """The asset's media is ours (`asset_id`: which variant of the task, the first by default)."""
    asset_id = asset_id or task.asset_id
    return GenerationCompleted(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id=task.user_id,
        provider=task.provider,
        media_type=task.media_type,
        prompt=task.prompt,
        task_id=task.task_id,
        media=media,
    )


def failed_all(task: TrackedTask, finish: Finish) -> list[GenerationFailed]:
    """A task that ends without media fails every asset it was making that is still wanted."""
    return [failed(task, finish, asset_id) for asset_id in task.wanted_asset_ids]


def failed(task: TrackedTask, finish: Finish, asset_id: UUID | None = None) -> GenerationFailed:
    asset_id = asset_id or task.asset_id
    return GenerationFailed(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id=task.user_id,
        provider=task.provider,
        reason=finish.reason,
        message=finish.message,
        task_id=task.task_id,
    )

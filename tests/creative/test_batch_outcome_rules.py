"""A 4o batch's shared task, without servers: its failure reaches every variant, a cancel of one
variant ends that asset only, a cancel before the request is remembered, and the task's cost is
split into shares that each go the way of their own asset."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from aistudio_contracts import FailureReason, MediaType, Provider
from aistudio_providers import ErrorKind
from aistudio_providers.costs import Cost
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
    next_step,
)
from generator.domain.variants import (
    Intake,
    Variants,
    cancel_asset,
    cost_shares,
    intake,
    share_ref,
    wasted_shares,
)
from poller.domain import task as poller_rules
from poller.domain.task import CANCEL, CANCEL_VARIANT, TRACK, TRACK_CANCELLED, Finish, Outcome, TakeCustody

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = Policy(in_doubt_grace=timedelta(seconds=30), callbacks_enabled=True, max_attempts=5)
A, B, C = uuid4(), uuid4(), uuid4()
BATCH = Variants.of(A, [A, B, C])


def _job(state: JobState = JobState.SUBMITTING, *, batch: bool, since: datetime | None = None) -> JobView:
    return JobView(state, Provider.KIE_4O_IMAGE, MediaType.IMAGE, NOW + timedelta(minutes=10), 0, 0, since, batch)


def test_a_definite_kie_failure_of_a_batch_fails_it_instead_of_making_one_gemini_image() -> None:
    for kind in (ErrorKind.FAILED, ErrorKind.ACCOUNT):
        single = after_error(_job(batch=False), kind, FailureReason.PROVIDER_ERROR, "no", NOW, POLICY, 1.0)
        assert single == Submit(Provider.GEMINI_FLASH)
        batch = after_error(_job(batch=True), kind, FailureReason.PROVIDER_ERROR, "no", NOW, POLICY, 1.0)
        assert isinstance(batch, Fail)
    refused = after_error(_job(batch=True), ErrorKind.USER, FailureReason.CONTENT_POLICY, "no", NOW, POLICY, 1.0)
    assert refused == Fail(FailureReason.CONTENT_POLICY, "no")


def test_a_refused_batch_is_sent_again_later_and_an_ambiguous_one_waits_for_its_callback() -> None:
    again = after_error(_job(batch=True), ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE, "x", NOW, POLICY, 5.0)
    assert again == Retry(NOW + timedelta(seconds=5))
    lost = after_error(_job(batch=True), ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, "x", NOW, POLICY, 5.0)
    assert lost == Doubt()


def test_a_batch_in_doubt_past_the_grace_waits_for_its_callback_and_never_falls_back() -> None:
    since = NOW - timedelta(minutes=1)
    single = next_step(_job(JobState.IN_DOUBT, batch=False, since=since), NOW, POLICY)
    assert single == Submit(Provider.GEMINI_FLASH)
    batch = _job(JobState.IN_DOUBT, batch=True, since=since)
    assert next_step(batch, NOW, POLICY) == WaitUntil(batch.deadline_at)
    assert isinstance(next_step(batch, batch.deadline_at, POLICY), Fail)


def test_cancelling_one_variant_ends_that_asset_and_the_job_only_with_the_last() -> None:
    first = cancel_asset(JobState.WAITING, BATCH, A, task_id=None)
    assert first is not None and first.job is None and first.variants.wanted == (B, C)
    assert cancel_asset(JobState.WAITING, first.variants, A, task_id=None) is None  # told twice
    second = cancel_asset(JobState.WAITING, first.variants, C, task_id=None)
    assert second is not None and second.job is None
    last = cancel_asset(JobState.WAITING, second.variants, B, task_id=None)
    assert last is not None and last.job is not None and not last.job.in_flight
    assert last.variants.all_cancelled


def test_a_cancel_after_the_task_was_paid_names_that_variants_share_as_waste() -> None:
    move = cancel_asset(JobState.SUBMITTED, BATCH, C, task_id="t1")
    assert move is not None and move.wasted_share == "t1/2" and move.job is None
    single = cancel_asset(JobState.SUBMITTED, Variants.of(A, None), A, task_id="t2")
    assert single is not None and single.wasted_share == "t2" and single.job is None  # the poller stops it
    assert cancel_asset(JobState.WAITING, BATCH, uuid4(), task_id=None) is None  # not this job's asset


def test_a_request_whose_assets_were_all_cancelled_first_is_never_worked() -> None:
    assert intake(Variants.of(A, None, [A])) is Intake.CANCELLED
    assert intake(Variants.of(A, [A, B], [A, B])) is Intake.CANCELLED
    assert intake(Variants.of(A, [A, B], [A])) is Intake.WAITING
    assert intake(Variants.of(A, None, [B])) is Intake.WAITING  # someone else's tombstone counts for nothing


def test_a_tasks_cost_is_split_into_shares_that_add_up_and_the_cancelled_ones_are_waste() -> None:
    cost = Cost("kie", "kie-4o-image", Decimal("6"), "credits", Decimal("0.03"))
    shares = cost_shares(cost, BATCH, "t1")
    assert [(asset, ref) for asset, ref, _ in shares] == [(A, "t1"), (B, "t1/1"), (C, "t1/2")]
    assert sum(share.units for _, _, share in shares) == cost.units
    assert sum(share.usd for _, _, share in shares) == cost.usd
    assert cost_shares(cost, Variants.of(A, None), "t9") == [(A, "t9", cost)]
    assert wasted_shares(Variants.of(A, [A, B, C], [A, C]), "t1") == [share_ref("t1", 0), "t1/2"]


def test_the_poller_stops_a_batch_task_only_when_every_variant_is_cancelled() -> None:
    assets = (A, B, C)
    assert poller_rules.cancel_asset(assets, (), B) is CANCEL_VARIANT
    assert poller_rules.cancel_asset(assets, (B,), B) is None
    assert poller_rules.cancel_asset(assets, (A, B), C) is CANCEL
    assert poller_rules.cancel_asset((A,), (), A) is CANCEL
    assert poller_rules.track_as(assets, (A, B, C)) is TRACK_CANCELLED
    assert poller_rules.track_as(assets, (B,)) is TRACK
    assert CANCEL_VARIANT.sources == CANCEL.sources


def test_a_batch_tasks_outcome_reaches_only_the_variants_still_wanted() -> None:
    task = poller_rules.TrackedTask(
        A,
        "u",
        Provider.KIE_4O_IMAGE,
        MediaType.IMAGE,
        "p",
        "t1",
        0,
        0,
        NOW + timedelta(minutes=5),
        variant_asset_ids=(A, B, C),
        cancelled_asset_ids=frozenset({B}),
    )
    custody = TakeCustody("r1", ("r1", "r2", "r3"))
    assert poller_rules.deliveries(task, custody) == [(A, "r1"), (C, "r3")]
    failed = poller_rules.failed_all(task, Finish(Outcome.FAILED, FailureReason.CONTENT_POLICY, "no"))
    assert [event.asset_id for event in failed] == [A, C]
    assert {event.reason for event in failed} == {FailureReason.CONTENT_POLICY}

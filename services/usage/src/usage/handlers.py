"""Thin transport adapters: NATS messages in, ledger calls, replies out."""

from faststream.nats import NatsBroker

from aistudio_contracts import (
    GenerationSettled,
    GetUsage,
    QuotaReservation,
    ReleaseQuota,
    ReserveQuota,
    SetPlan,
    SubscriptionChanged,
    UsageSummary,
    subjects,
)
from aistudio_runtime import durable_subscriber, get_logger

from . import metrics
from .ledger import Ledger

log = get_logger(__name__)

# Requests answered at once by one replica: a burst of submissions must not queue behind one another.
RPC_WORKERS = 32


def register(broker: NatsBroker, ledger: Ledger) -> None:
    @broker.subscriber(
        subjects.USAGE_RESERVE, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:reserve"
    )
    async def reserve(request: ReserveQuota) -> QuotaReservation:
        granted, usage = await ledger.reserve(
            request.request_id, request.user_id, request.deadline_at, request.also_request_ids
        )
        metrics.reserved(granted)
        log.info("quota_reserve", user_id=request.user_id, request_id=str(request.request_id), granted=granted)
        return QuotaReservation(granted=granted, usage=usage)

    @broker.subscriber(
        subjects.USAGE_RELEASE, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:release"
    )
    async def release(request: ReleaseQuota) -> UsageSummary:
        move = await ledger.withdraw(request.request_id, request.user_id)
        metrics.moved(move)
        if move:
            log.info(move.name, user_id=request.user_id, request_id=str(request.request_id))
        return await ledger.summary(request.user_id)

    @broker.subscriber(
        subjects.USAGE_SUMMARY, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:summary"
    )
    async def summary(request: GetUsage) -> UsageSummary:
        return await ledger.summary(request.user_id)

    @broker.subscriber(
        subjects.USAGE_SET_PLAN, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:set-plan"
    )
    async def set_plan(request: SetPlan) -> UsageSummary:
        log.info("plan_set", user_id=request.user_id, plan=request.plan)
        return await ledger.set_plan(request.user_id, request.plan, request.effective_at)

    # The catalog's verdict is the only outcome usage acts on: the unit is used if and only if
    # the asset the user sees is ready and charged. (GenerationCompleted/Failed are no longer
    # consumed here; their old durables simply stop being read.)
    @durable_subscriber(broker, GenerationSettled, "usage-generation-settled")
    async def on_settled(event: GenerationSettled) -> None:
        move = await ledger.settle(event.asset_id, charged=event.charged)
        metrics.moved(move)
        log.info(
            move.name if move else "quota_settle_unchanged",
            user_id=event.user_id,
            asset_id=str(event.asset_id),
            outcome=event.outcome,
            charged=event.charged,
            late=event.late,
        )

    @durable_subscriber(broker, SubscriptionChanged, "usage-subscription-changed")
    async def on_subscription_changed(event: SubscriptionChanged) -> None:
        summary = await ledger.set_plan(event.user_id, event.plan, event.effective_at or event.occurred_at)
        log.info("plan_changed_by_billing", user_id=event.user_id, plan=event.plan, stored_plan=summary.plan)

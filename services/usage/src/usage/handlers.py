"""Thin transport adapters: NATS messages in, ledger calls, replies out."""

from faststream.nats import NatsBroker

from aistudio_contracts import (
    GenerationCompleted,
    GenerationFailed,
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

from .ledger import Ledger

log = get_logger(__name__)

# Requests answered at once by one replica: a burst of submissions must not queue behind one another.
RPC_WORKERS = 32


def register(broker: NatsBroker, ledger: Ledger) -> None:
    @broker.subscriber(
        subjects.USAGE_RESERVE, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:reserve"
    )
    async def reserve(request: ReserveQuota) -> QuotaReservation:
        granted, usage = await ledger.reserve(request.request_id, request.user_id)
        log.info("quota_reserve", user_id=request.user_id, request_id=str(request.request_id), granted=granted)
        return QuotaReservation(granted=granted, usage=usage)

    @broker.subscriber(
        subjects.USAGE_RELEASE, queue=subjects.USAGE_QUEUE, max_workers=RPC_WORKERS, title="usage:release"
    )
    async def release(request: ReleaseQuota) -> UsageSummary:
        await ledger.release(request.request_id)
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
        return await ledger.set_plan(request.user_id, request.plan)

    @durable_subscriber(broker, GenerationCompleted, "usage-generation-completed")
    async def on_completed(event: GenerationCompleted) -> None:
        if await ledger.commit(event.asset_id):
            log.info("quota_committed", user_id=event.user_id, asset_id=str(event.asset_id))

    @durable_subscriber(broker, GenerationFailed, "usage-generation-failed")
    async def on_failed(event: GenerationFailed) -> None:
        if await ledger.release(event.asset_id):
            log.info("quota_released", user_id=event.user_id, asset_id=str(event.asset_id), reason=event.reason)

    @durable_subscriber(broker, SubscriptionChanged, "usage-subscription-changed")
    async def on_subscription_changed(event: SubscriptionChanged) -> None:
        await ledger.set_plan(event.user_id, event.plan)
        log.info("plan_changed_by_billing", user_id=event.user_id, plan=event.plan)

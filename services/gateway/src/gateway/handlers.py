"""Keeps the catalog current from the lifecycle events: each event is one named move of the catalog."""

from faststream.nats import NatsBroker

from aistudio_contracts import (
    CaptionFailed,
    CaptionGenerated,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    MessageDeadLettered,
    QueueAdvanced,
    QueueJoined,
    TaskStarted,
)
from aistudio_runtime import durable_subscriber, get_logger

from . import analytics_handlers
from .analytics import AnalyticsProjection
from .catalog import Catalog
from .metrics import SettlementMetrics

log = get_logger(__name__)

DEAD_LETTER_MESSAGE = (
    "Something went wrong on our side while processing this generation, so it was stopped. "
    "It was not counted against your quota; please try again."
)


def register(broker: NatsBroker, catalog: Catalog) -> None:
    settlements = SettlementMetrics(catalog)
    analytics_handlers.register(broker, AnalyticsProjection(catalog))  # the catalog only lends its pool

    @durable_subscriber(broker, TaskStarted, "gateway-task-started")
    async def on_task_started(event: TaskStarted) -> None:
        await catalog.record_task(event)

    @durable_subscriber(broker, QueueJoined, "gateway-queue-joined", batch_size=64)
    async def on_queue_joined(event: QueueJoined) -> None:
        await catalog.join_queue(event)

    @durable_subscriber(broker, QueueAdvanced, "gateway-queue-advanced")
    async def on_queue_advanced(event: QueueAdvanced) -> None:
        await catalog.advance_queue(event)

    @durable_subscriber(broker, GenerationCompleted, "gateway-generation-completed")
    async def on_completed(event: GenerationCompleted) -> None:
        move = await catalog.complete(event)
        if move is not None and move.late:
            log.warning("generation_delivered_late", asset_id=str(event.asset_id), charged=False)
        settlements.moved(event.asset_id, move, event.occurred_at)

    @durable_subscriber(broker, GenerationFailed, "gateway-generation-failed")
    async def on_failed(event: GenerationFailed) -> None:
        move = await catalog.fail(
            event.asset_id, event.reason, event.message, consumer="generation-failed", event_id=event.event_id
        )
        settlements.moved(event.asset_id, move, event.occurred_at)

    @durable_subscriber(broker, MessageDeadLettered, "gateway-message-dead-lettered")
    async def on_dead_lettered(event: MessageDeadLettered) -> None:
        if event.asset_id is None:
            return
        move = await catalog.fail(
            event.asset_id,
            FailureReason.INTERNAL_ERROR,
            DEAD_LETTER_MESSAGE,
            consumer="message-dead-lettered",
            event_id=event.event_id,
        )
        settlements.moved(event.asset_id, move, event.occurred_at)
        if move:
            log.error("generation_failed_by_dead_letter", asset_id=str(event.asset_id), durable=event.durable)

    @durable_subscriber(broker, CaptionGenerated, "gateway-caption-generated")
    async def on_caption(event: CaptionGenerated) -> None:
        await catalog.caption_generated(event)

    @durable_subscriber(broker, CaptionFailed, "gateway-caption-failed")
    async def on_caption_failed(event: CaptionFailed) -> None:
        await catalog.caption_failed(event)

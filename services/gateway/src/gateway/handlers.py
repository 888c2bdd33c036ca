"""Keeps the catalog current from the lifecycle events (idempotent, order-tolerant)."""

from faststream.nats import NatsBroker

from aistudio_contracts import (
    CaptionFailed,
    CaptionGenerated,
    GenerationCompleted,
    GenerationFailed,
    TaskStarted,
)
from aistudio_runtime import durable_subscriber

from .catalog import Catalog

_RETURNING = " RETURNING id, user_id"


def register(broker: NatsBroker, catalog: Catalog) -> None:
    @durable_subscriber(broker, TaskStarted, "gateway-task-started")
    async def on_task_started(event: TaskStarted) -> None:
        await catalog.apply(
            "task-started",
            event,
            "UPDATE gateway.media_assets SET provider_task_id = $2, provider = $3, updated_at = now()"
            " WHERE id = $1 AND status = 'processing'" + _RETURNING,
            event.asset_id,
            event.task_id,
            event.provider.value,
        )

    @durable_subscriber(broker, GenerationCompleted, "gateway-generation-completed")
    async def on_completed(event: GenerationCompleted) -> None:
        await catalog.apply(
            "generation-completed",
            event,
            "UPDATE gateway.media_assets SET status = 'ready', provider = $2,"
            " provider_task_id = COALESCE($3, provider_task_id), result_storage_key = $4,"
            " result_content_type = $5, result_origin_url = $6, completed_at = $7, updated_at = now(),"
            " caption_status = CASE WHEN caption_status = 'none' THEN 'pending' ELSE caption_status END"
            " WHERE id = $1 AND status = 'processing'" + _RETURNING,
            event.asset_id,
            event.provider.value,
            event.task_id,
            event.media.storage_key,
            event.media.content_type,
            event.media.origin_url,
            event.occurred_at,
        )

    @durable_subscriber(broker, GenerationFailed, "gateway-generation-failed")
    async def on_failed(event: GenerationFailed) -> None:
        await catalog.apply(
            "generation-failed",
            event,
            "UPDATE gateway.media_assets SET status = 'error', error_code = $2, error_message = $3,"
            " completed_at = $4, updated_at = now() WHERE id = $1 AND status = 'processing'" + _RETURNING,
            event.asset_id,
            event.reason.value,
            event.message,
            event.occurred_at,
        )

    @durable_subscriber(broker, CaptionGenerated, "gateway-caption-generated")
    async def on_caption(event: CaptionGenerated) -> None:
        await catalog.apply(
            "caption-generated",
            event,
            "UPDATE gateway.media_assets SET caption = $2, caption_status = 'ready', updated_at = now()"
            " WHERE id = $1" + _RETURNING,
            event.asset_id,
            event.caption,
        )

    @durable_subscriber(broker, CaptionFailed, "gateway-caption-failed")
    async def on_caption_failed(event: CaptionFailed) -> None:
        await catalog.apply(
            "caption-failed",
            event,
            "UPDATE gateway.media_assets SET caption_status = 'failed', updated_at = now()"
            " WHERE id = $1 AND caption_status <> 'ready'" + _RETURNING,
            event.asset_id,
        )

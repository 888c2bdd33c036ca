"""Catalog rows → the JSON the web client reads."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aistudio_contracts import estimated_start

from ..links import LinkSigner
from .schemas import MediaAssetPublic


def present_asset(row: Mapping[str, Any], links: LinkSigner) -> MediaAssetPublic:
    ready = row["status"] == "ready" and row["result_storage_key"]
    return MediaAssetPublic(
        id=row["id"],
        provider=row["provider"],
        requested_provider=row["requested_provider"],
        type=row["type"],
        prompt=row["prompt"],
        status=row["status"],
        result_url=links.media_url(row["id"]) if ready else None,
        error_code=row["error_code"],
        error_message=row["error_message"],
        caption=row["caption"],
        caption_status=row["caption_status"],
        reference_image_url=row["reference_image_url"],
        aspect_ratio=row["aspect_ratio"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        model=row["model"],
        style=row["style"],
        template_id=row["template_id"],
        batch_id=row["batch_id"],
        parent_id=row["parent_id"],
        **(_queue_figures(row.get("queue")) or _running_figures(row)),
    )


def _running_figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """Once the provider accepted the task, ready is expected its typical duration after."""
    started, typical = row.get("task_started_at"), row.get("queue_typical_seconds")
    if row["status"] != "processing" or started is None or typical is None:
        return {}
    return {"estimated_ready_at": started + timedelta(seconds=typical)}


def _queue_figures(queue: Any) -> dict[str, Any]:
    """(position, next slot, slots per cycle, cycle seconds, typical seconds) → the asset's figures."""
    if queue is None:
        return {}
    position, next_slot_at, slots_per_cycle, cycle_seconds, typical_seconds = queue
    start = estimated_start(position, next_slot_at, slots_per_cycle, cycle_seconds, datetime.now(UTC))
    ready = start + timedelta(seconds=typical_seconds) if typical_seconds is not None else None
    return {"queue_position": position, "estimated_start_at": start, "estimated_ready_at": ready}

"""What the captioner tests (and the gateway's caption tests) share: settings pointed at the simulator,
media put into our store, events published as the generator would, and waiting for outcomes."""

import asyncio
import hashlib
import io
import json
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import nats
from nats.js.api import ConsumerInfo
from PIL import Image

from aistudio_contracts import Event, GenerationCompleted, MediaType, Provider, StoredMedia, subjects
from aistudio_contracts.subjects import EVENTS_STREAM
from captioner.settings import CaptionerSettings
from provider_simulator.media import encode_test_clip

from ..support.services import common_env
from ..support.simulator import CLIENT_TIMEOUT_SECONDS

T = TypeVar("T")
# What crosses NATS and the services on a loaded 2-core machine that runs two test workers.
PATIENCE_SECONDS = 60.0


def captioner_settings(
    nats_url: str, database_url: str, media_dir: Path, simulator_url: str, **overrides: Any
) -> CaptionerSettings:
    values: dict[str, Any] = {
        **common_env(nats_url, database_url),
        "media_dir": str(media_dir),
        "openai_api_key": "sim-openai",
        "openai_base_url": f"{simulator_url}/v1",
        # One HTTP call per attempt, so that the simulator's request log counts our attempts.
        "openai_max_retries": 0,
        "openai_timeout_seconds": CLIENT_TIMEOUT_SECONDS,
        "caption_max_attempts": 3,
        **overrides,
    }
    return CaptionerSettings(**values)


def png_bytes(color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(output, format="PNG")
    return output.getvalue()


@cache
def mp4_bytes() -> bytes:
    return encode_test_clip(160, 90)


def put_media(media_dir: Path, asset_id: UUID, media_type: MediaType) -> StoredMedia:
    """Put a real image or clip where the generator would have stored the asset's result."""
    data, content_type, extension = (
        (png_bytes(), "image/png", "png") if media_type is MediaType.IMAGE else (mp4_bytes(), "video/mp4", "mp4")
    )
    key = f"2026/11/{asset_id}.{extension}"
    path = media_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return StoredMedia(
        storage_key=key, content_type=content_type, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def completed(
    media_dir: Path,
    *,
    prompt: str,
    media_type: MediaType = MediaType.IMAGE,
    user_id: str = "alice",
    asset_id: UUID | None = None,
) -> GenerationCompleted:
    """GenerationCompleted as the generator or the poller publishes it, with the media in place."""
    asset_id = asset_id or uuid4()
    return GenerationCompleted(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id=user_id,
        provider=Provider.KIE_VEO3 if media_type is MediaType.VIDEO else Provider.KIE_4O_IMAGE,
        media_type=media_type,
        prompt=prompt,
        media=put_media(media_dir, asset_id, media_type),
        task_id=uuid4().hex,
    )


async def publish(nats_url: str, *events: Event) -> int:
    """Publish to JetStream as the outbox relay does; returns the stream sequence of the last one."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        sequence = 0
        for event in events:
            ack = await js.publish(
                event.subject, event.to_json(), stream=EVENTS_STREAM.name, headers={"Nats-Msg-Id": str(event.event_id)}
            )
            sequence = ack.seq
        return sequence
    finally:
        await client.close()


async def wait_until_acknowledged(nats_url: str, durable: str, sequence: int, within: float = PATIENCE_SECONDS) -> None:
    """Until the durable consumer has acknowledged everything up to `sequence` (its handlers are done)."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()

        async def acknowledged() -> bool:
            info = await js.consumer_info(EVENTS_STREAM.name, durable)
            return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= sequence

        await eventually(acknowledged, within=within)
    finally:
        await client.close()


async def consumer_info(nats_url: str, durable: str) -> ConsumerInfo:
    client = await nats.connect(nats_url)
    try:
        return await client.jetstream().consumer_info(EVENTS_STREAM.name, durable)
    finally:
        await client.close()


async def eventually(
    check: Callable[[], Awaitable[T]], *, within: float = PATIENCE_SECONDS, interval: float = 0.05
) -> T:
    """The first truthy result of `check`, polled until `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s (last result: {result!r})")
        await asyncio.sleep(interval)


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def settled_caption(database_url: str, asset_id: UUID, within: float = PATIENCE_SECONDS) -> asyncpg.Record:
    """The captioner's row for the asset once it is ready or failed."""

    async def settled() -> asyncpg.Record | None:
        rows = await fetch(
            database_url, "SELECT * FROM captioner.captions WHERE asset_id = $1 AND status <> 'pending'", asset_id
        )
        return rows[0] if rows else None

    return await eventually(settled, within=within)


async def caption_events(database_url: str, asset_id: UUID) -> list[tuple[str, str]]:
    """(subject, payload) of the caption events the captioner queued for the asset, in order (its
    paid calls' ProviderCostRecorded go through the same outbox: see `cost_events`)."""
    rows = await fetch(
        database_url,
        "SELECT subject, convert_from(payload, 'UTF8') AS payload FROM captioner.outbox"
        " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'asset_id' = $1 AND subject <> $2 ORDER BY id",
        str(asset_id),
        subjects.PROVIDER_COST_RECORDED,
    )
    return [(row["subject"], row["payload"]) for row in rows]


async def cost_events(database_url: str, asset_id: UUID) -> list[dict[str, Any]]:
    """The ProviderCostRecorded the captioner queued for the asset's OpenAI calls, in order."""
    rows = await fetch(
        database_url,
        "SELECT convert_from(payload, 'UTF8') AS payload FROM captioner.outbox"
        " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'asset_id' = $1 AND subject = $2 ORDER BY id",
        str(asset_id),
        subjects.PROVIDER_COST_RECORDED,
    )
    return [json.loads(row["payload"]) for row in rows]


def openai_calls(requests: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    """The simulator's record of OpenAI calls about `prompt`."""
    return [request for request in requests if prompt in (request.get("userText") or "")]

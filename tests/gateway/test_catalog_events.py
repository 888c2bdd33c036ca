"""The catalog follows lifecycle events idempotently and in any order, and settles each outcome once."""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import pytest

from aistudio_contracts import (
    CaptionGenerated,
    Event,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    MediaType,
    Provider,
    StoredMedia,
    TaskStarted,
    subjects,
)
from aistudio_contracts.subjects import EVENTS_STREAM

from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}
PATIENCE_SECONDS = 60.0  # the gateway's consumers on a loaded 2-core machine
# The gateway's consumer of each kind of event these tests publish.
DURABLES: dict[type[Event], str] = {
    TaskStarted: "gateway-task-started",
    GenerationCompleted: "gateway-generation-completed",
    GenerationFailed: "gateway-generation-failed",
    CaptionGenerated: "gateway-caption-generated",
}


async def _publish_applied(nats_url: str, *events: Event) -> None:
    """Publish, then wait until the gateway's consumer of each event has acknowledged it: past that
    point an event that must change nothing has had its chance to (no sleep stands in for it)."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        sequences: list[tuple[str, int]] = []
        for event in events:
            ack = await js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)})
            sequences.append((DURABLES[type(event)], ack.seq))
        deadline = time.monotonic() + PATIENCE_SECONDS
        for durable, sequence in sequences:
            while True:
                info = await js.consumer_info(EVENTS_STREAM.name, durable)
                if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= sequence:
                    break
                assert time.monotonic() < deadline, f"{durable} never acknowledged message {sequence}: {info}"
                await asyncio.sleep(0.1)
    finally:
        await client.close()


async def _shown(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    return (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()  # type: ignore[no-any-return]


async def _settled(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    """The asset once out of processing: for a test that published a single outcome."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        asset = await _shown(api, user, asset_id)
        if asset["status"] != "processing":
            return asset
        assert time.monotonic() < deadline, f"never settled: {asset}"
        await asyncio.sleep(0.1)


async def _until_status(api: Api, user: str, asset_id: str, status: str) -> dict[str, Any]:
    """The asset once it shows `status` (the events' consumers apply them each in its own time)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        asset = await _shown(api, user, asset_id)
        if asset["status"] == status:
            return asset
        assert time.monotonic() < deadline, f"never {status}: {asset}"
        await asyncio.sleep(0.1)


def _events(asset_id: str, user: str) -> tuple[TaskStarted, GenerationCompleted, GenerationFailed]:
    common: dict[str, Any] = {"correlation_id": asset_id, "asset_id": asset_id, "user_id": user}
    started = TaskStarted(
        **common, provider=Provider.KIE_4O_IMAGE, media_type=MediaType.IMAGE, task_id="t" * 32, prompt="p"
    )
    completed = GenerationCompleted(
        **common,
        provider=Provider.KIE_4O_IMAGE,
        media_type=MediaType.IMAGE,
        prompt="p",
        task_id="t" * 32,
        media=StoredMedia(storage_key="2026/11/x.png", content_type="image/png", size_bytes=1, sha256="0" * 64),
    )
    failed = GenerationFailed(
        **common, provider=Provider.KIE_4O_IMAGE, reason=FailureReason.TIMEOUT, message="too slow"
    )
    return started, completed, failed


async def test_a_late_task_started_and_a_late_failure_do_not_move_a_ready_asset(api: Api, nats_url: str) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("alice"))).json()
    started, completed, failed = _events(asset["id"], "alice")
    # Each kind has its own consumer: whichever order they apply these in, every one is applied here.
    await _publish_applied(nats_url, completed, started, failed, completed)
    settled = await _until_status(api, "alice", asset["id"], "ready")
    assert settled["errorCode"] is None
    assert settled["resultUrl"]


async def _settlements(database_url: str, asset_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM gateway.outbox WHERE subject = $1 ORDER BY id", subjects.GENERATION_SETTLED
        )
    finally:
        await conn.close()
    payloads = [json.loads(bytes(row["payload"])) for row in rows]
    return [payload for payload in payloads if payload["asset_id"] == asset_id]


async def test_a_completion_after_the_failure_is_delivered_late_and_never_charged(
    api: Api, nats_url: str, database_url: str
) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    _, completed, failed = _events(asset["id"], "bob")
    await _publish_applied(nats_url, failed, failed)
    await _until_status(api, "bob", asset["id"], "error")
    await _publish_applied(nats_url, completed, completed)
    shown = await _until_status(api, "bob", asset["id"], "ready")
    assert shown["resultUrl"] and shown["errorCode"] is None
    verdicts = [(s["outcome"], s["charged"], s["late"]) for s in await _settlements(database_url, asset["id"])]
    assert verdicts == [("error", False, False), ("ready", False, True)]


async def test_a_ready_asset_is_settled_charged_exactly_once(api: Api, nats_url: str, database_url: str) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("carol"))).json()
    _, completed, failed = _events(asset["id"], "carol")
    await _publish_applied(nats_url, completed, completed)
    await _until_status(api, "carol", asset["id"], "ready")
    # Published only once the asset is ready: on its own consumer it could otherwise come first.
    await _publish_applied(nats_url, failed)  # applied: it had its chance to change something
    verdicts = [(s["outcome"], s["charged"]) for s in await _settlements(database_url, asset["id"])]
    assert verdicts == [("ready", True)]


async def test_an_older_caption_arriving_late_never_replaces_a_newer_one(api: Api, nats_url: str) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("dora"))).json()
    _, completed, _ = _events(asset["id"], "dora")
    common: dict[str, Any] = {"correlation_id": asset["id"], "asset_id": asset["id"], "user_id": "dora"}
    older = CaptionGenerated(
        **common, caption="The automatic caption", occurred_at=datetime(2026, 12, 1, 10, tzinfo=UTC)
    )
    newer = CaptionGenerated(
        **common, caption="The caption she asked for", occurred_at=datetime(2026, 12, 1, 11, tzinfo=UTC)
    )
    await _publish_applied(nats_url, completed, newer)
    assert (await _shown(api, "dora", asset["id"]))["caption"] == "The caption she asked for"
    await _publish_applied(nats_url, older)  # applied: it had its chance to replace the newer one
    shown = await _shown(api, "dora", asset["id"])
    assert shown["caption"] == "The caption she asked for"

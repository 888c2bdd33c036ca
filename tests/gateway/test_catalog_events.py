"""The catalog follows lifecycle events idempotently and in any order, and settles each outcome once."""

import asyncio
import json
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

from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}


async def _publish(nats_url: str, *events: Event) -> None:
    client = await nats.connect(nats_url)
    try:
        for event in events:
            await client.jetstream().publish(
                event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)}
            )
    finally:
        await client.close()


async def _settled(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    for _ in range(60):
        asset: dict[str, Any] = (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()
        if asset["status"] != "processing":
            await asyncio.sleep(0.5)  # let any later event land too
            return (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError("asset never settled")


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
    await _publish(nats_url, completed, started, failed, completed)
    settled = await _settled(api, "alice", asset["id"])
    assert settled["status"] == "ready" and settled["errorCode"] is None
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
    await _publish(nats_url, failed, failed)
    assert (await _settled(api, "bob", asset["id"]))["status"] == "error"
    await _publish(nats_url, completed, completed)
    for _ in range(100):
        shown = (await api.client.get(f"/api/ai/media/{asset['id']}", headers=api.auth("bob"))).json()
        if shown["status"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert shown["status"] == "ready" and shown["resultUrl"] and shown["errorCode"] is None
    verdicts = [(s["outcome"], s["charged"], s["late"]) for s in await _settlements(database_url, asset["id"])]
    assert verdicts == [("error", False, False), ("ready", False, True)]


async def test_a_ready_asset_is_settled_charged_exactly_once(api: Api, nats_url: str, database_url: str) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("carol"))).json()
    _, completed, failed = _events(asset["id"], "carol")
    await _publish(nats_url, completed, completed)
    assert (await _settled(api, "carol", asset["id"]))["status"] == "ready"
    # Published only once the asset is ready: on its own consumer it could otherwise come first.
    await _publish(nats_url, failed)
    await asyncio.sleep(1.0)  # let it land (it must change nothing)
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
    await _publish(nats_url, completed, newer)
    for _ in range(100):
        shown = (await api.client.get(f"/api/ai/media/{asset['id']}", headers=api.auth("dora"))).json()
        if shown["caption"]:
            break
        await asyncio.sleep(0.1)
    await _publish(nats_url, older)
    await asyncio.sleep(1.0)  # let the older one land (it must change nothing)
    shown = (await api.client.get(f"/api/ai/media/{asset['id']}", headers=api.auth("dora"))).json()
    assert shown["caption"] == "The caption she asked for"

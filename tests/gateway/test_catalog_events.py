"""The catalog follows lifecycle events idempotently and in any order; a finished asset never moves back."""

import asyncio
from typing import Any

import nats
import pytest

from aistudio_contracts import (
    Event,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    MediaType,
    Provider,
    StoredMedia,
    TaskStarted,
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


async def test_a_failed_asset_stays_failed_when_a_completion_arrives_later(api: Api, nats_url: str) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    _, completed, failed = _events(asset["id"], "bob")
    await _publish(nats_url, failed, failed, completed)
    settled = await _settled(api, "bob", asset["id"])
    assert settled["status"] == "error" and settled["errorCode"] == "timeout"
    assert settled["resultUrl"] is None

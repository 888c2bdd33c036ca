"""A cancel racing the completion ends in exactly one of the two, decided by the catalog's
conditional moves: either the asset is ready (charged, the cancel answered 409) or it is
cancelled (uncharged, the completion changed nothing). Never both, never neither."""

import asyncio
from uuid import UUID

import asyncpg
import nats
import pytest

from aistudio_contracts import GenerationCompleted, MediaType, Provider, StoredMedia, subjects

from ..gateway.conftest import Api, api, make_gateway_settings, usage_service  # noqa: F401
from .conftest import eventually

pytestmark = pytest.mark.integration

ITERATIONS = 12
VIDEO = {"prompt": "A drone shot over a foggy forest at dawn", "provider": "kie-veo3", "type": "video"}


def _completed(asset_id: str, user: str) -> GenerationCompleted:
    return GenerationCompleted(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id=user,
        provider=Provider.KIE_VEO3,
        media_type=MediaType.VIDEO,
        prompt=VIDEO["prompt"],
        task_id="t" * 32,
        media=StoredMedia(storage_key="2026/12/x.mp4", content_type="video/mp4", size_bytes=1, sha256="0" * 64),
    )


async def test_a_cancel_racing_the_completion_ends_in_exactly_one_outcome(
    api: Api,  # noqa: F811
    nats_url: str,
    database_url: str,
) -> None:
    user = "racer"
    promoted = await api.client.put(
        "/api/admin/users/racer/plan", json={"plan": "pro"}, headers=api.auth("root", role="admin")
    )
    assert promoted.status_code == 200, promoted.text
    client = await nats.connect(nats_url)
    db = await asyncpg.connect(database_url)
    outcomes: dict[str, int] = {}
    try:
        for _ in range(ITERATIONS):
            response = await api.client.post("/api/ai/generate-media", json=VIDEO, headers=api.auth(user))
            assert response.status_code == 202, response.text
            asset_id = response.json()["id"]
            completed = _completed(asset_id, user)

            async def complete(event: GenerationCompleted = completed) -> None:
                await client.jetstream().publish(
                    event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)}
                )

            cancel, _ = await asyncio.gather(
                api.client.post(f"/api/ai/media/{asset_id}/cancel", headers=api.auth(user)), complete()
            )
            assert cancel.status_code in (200, 409), cancel.text

            # Wait until the catalog has handled the completion too, whichever came first.
            async def handled(event: GenerationCompleted = completed) -> bool:
                return bool(
                    await db.fetchval("SELECT true FROM gateway.processed_events WHERE event_id = $1", event.event_id)
                )

            await eventually(handled, "the catalog to handle the completion")
            status = (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()["status"]
            assert status == ("cancelled" if cancel.status_code == 200 else "ready")
            settled = await db.fetch(
                "SELECT payload FROM gateway.outbox"
                " WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb->>'asset_id' = $2",
                subjects.GENERATION_SETTLED,
                str(UUID(asset_id)),
            )
            assert len(settled) == 1, settled
            outcomes[status] = outcomes.get(status, 0) + 1
    finally:
        await client.close()
        await db.close()
    assert sum(outcomes.values()) == ITERATIONS

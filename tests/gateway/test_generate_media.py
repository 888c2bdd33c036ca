"""POST /api/ai/generate-media and the asset endpoints, over real NATS, Postgres and the usage service."""

import asyncio
import json

import asyncpg
import pytest

from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}


async def test_a_valid_request_is_accepted_as_a_processing_asset(api: Api, database_url: str) -> None:
    response = await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("alice"))
    assert response.status_code == 202, response.text
    asset = response.json()
    assert asset["status"] == "processing"
    assert asset["provider"] == "kie-4o-image" and asset["type"] == "image"
    assert asset["prompt"] == VALID["prompt"] and asset["aspectRatio"] == "1:1"
    assert asset["resultUrl"] is None and asset["createdAt"].endswith(("Z", "+00:00"))
    conn = await asyncpg.connect(database_url)
    try:
        outbox = await conn.fetch("SELECT subject, payload FROM gateway.outbox")
    finally:
        await conn.close()
    assert [row["subject"] for row in outbox] == ["aistudio.events.generation.requested"]
    assert json.loads(outbox[0]["payload"])["asset_id"] == asset["id"]


async def test_an_asset_is_visible_to_its_owner_only(api: Api) -> None:
    created = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("alice"))).json()
    mine = await api.client.get(f"/api/ai/media/{created['id']}", headers=api.auth("alice"))
    assert mine.status_code == 200 and mine.json()["id"] == created["id"]
    theirs = await api.client.get(f"/api/ai/media/{created['id']}", headers=api.auth("mallory"))
    assert theirs.status_code == 404 and theirs.json() == {"error": "Media asset not found"}
    gallery = await api.client.get("/api/ai/media", headers=api.auth("mallory"))
    assert gallery.json()["assets"] == []


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({**VALID, "prompt": "too short"}, ["prompt"], "Prompt must be at least 10 characters"),
        ({**VALID, "prompt": "x" * 1001}, ["prompt"], "Prompt must be at most 1000 characters"),
        ({**VALID, "prompt": "   padded    "}, ["prompt"], "Prompt must be at least 10 characters"),
        ({**VALID, "provider": "dall-e"}, ["provider"], None),
        ({**VALID, "type": "gif"}, ["type"], None),
        ({**VALID, "provider": "kie-veo3"}, ["provider"], "Provider kie-veo3 does not make images"),
        ({**VALID, "aspectRatio": "16:9"}, ["aspectRatio"], None),
        ({**VALID, "referenceImageUrl": "ftp://example.com/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://127.0.0.1/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://169.254.169.254/latest"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://10.0.0.5/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://2130706433/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://localhost/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "http://[::1]/a.png"}, ["referenceImageUrl"], None),
        ({**VALID, "referenceImageUrl": "https://example.com/" + "a" * 2100}, ["referenceImageUrl"], None),
        ([1, 2, 3], [], "Request body must be a JSON object"),
    ],
)
async def test_invalid_input_gets_a_400_with_details_and_changes_nothing(
    api: Api, body: object, path: list[str], message: str | None
) -> None:
    response = await api.client.post("/api/ai/generate-media", json=body, headers=api.auth("alice"))
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["error"] == "Invalid input"
    assert payload["details"][0]["path"] == path
    if message:
        assert payload["details"][0]["message"] == message
    assert (await api.client.get("/api/ai/media", headers=api.auth("alice"))).json()["assets"] == []
    assert (await api.client.get("/api/usage", headers=api.auth("alice"))).json()["reserved"] == 0


async def test_malformed_json_gets_a_400(api: Api) -> None:
    response = await api.client.post(
        "/api/ai/generate-media",
        content=b'{"prompt": ',
        headers={**api.auth("alice"), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid input"


async def test_an_oversized_body_gets_a_413(api: Api) -> None:
    response = await api.client.post(
        "/api/ai/generate-media",
        content=b"x" * 200_000,
        headers={**api.auth("alice"), "content-type": "application/json"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."],
)
async def test_requests_without_a_valid_token_get_a_401(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await api.client.post("/api/ai/generate-media", json=VALID, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_the_eleventh_generation_of_a_free_user_gets_the_limit_shape(api: Api) -> None:
    for _ in range(10):
        assert (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).status_code == 202
    response = await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))
    assert response.status_code == 403
    assert response.json() == {
        "error": "Monthly media generation limit reached",
        "message": "Free plan allows 10 AI generations per month. Upgrade to Pro for unlimited.",
        "limit": 10,
    }


async def test_fifty_concurrent_submissions_with_ten_left_accept_exactly_ten(api: Api) -> None:
    responses = await asyncio.gather(
        *(api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("carol")) for _ in range(50))
    )
    codes = sorted(response.status_code for response in responses)
    assert codes.count(202) == 10 and codes.count(403) == 40
    gallery = await api.client.get("/api/ai/media", headers=api.auth("carol"))
    assert len(gallery.json()["assets"]) == 10


async def test_the_same_idempotency_key_returns_the_same_asset_and_charges_once(api: Api) -> None:
    headers = {**api.auth("dave"), "Idempotency-Key": "req-1"}
    first, second = await asyncio.gather(
        api.client.post("/api/ai/generate-media", json=VALID, headers=headers),
        api.client.post("/api/ai/generate-media", json=VALID, headers=headers),
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    usage = (await api.client.get("/api/usage", headers=api.auth("dave"))).json()
    assert usage["reserved"] + usage["used"] == 1
    different = await api.client.post(
        "/api/ai/generate-media", json={**VALID, "prompt": "A different prompt entirely"}, headers=headers
    )
    assert different.status_code == 422


async def test_usage_reports_plan_limit_and_period(api: Api) -> None:
    await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("erin"))
    usage = (await api.client.get("/api/usage", headers=api.auth("erin"))).json()
    assert usage["plan"] == "free" and usage["limit"] == 10
    assert (usage["used"], usage["reserved"], usage["remaining"]) == (0, 1, 9)
    assert usage["periodStart"].startswith(usage["periodStart"][:8])


async def test_only_admins_change_plans_and_pro_users_are_unlimited(api: Api) -> None:
    denied = await api.client.put("/api/admin/users/frank/plan", json={"plan": "pro"}, headers=api.auth("frank"))
    assert denied.status_code == 403
    granted = await api.client.put(
        "/api/admin/users/frank/plan", json={"plan": "pro"}, headers=api.auth("root", role="admin")
    )
    assert granted.status_code == 200 and granted.json()["plan"] == "pro"
    for _ in range(12):
        assert (
            await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("frank"))
        ).status_code == 202
    bad = await api.client.put(
        "/api/admin/users/frank/plan", json={"plan": "gold"}, headers=api.auth("root", role="admin")
    )
    assert bad.status_code == 400


async def test_gallery_pages_newest_first_and_filters(api: Api) -> None:
    video = {"prompt": "A drone shot over a foggy forest", "provider": "kie-veo3", "type": "video"}
    for body in (VALID, video, VALID):
        await api.client.post("/api/ai/generate-media", json=body, headers=api.auth("gina"))
    first = (await api.client.get("/api/ai/media?limit=2", headers=api.auth("gina"))).json()
    assert len(first["assets"]) == 2 and first["nextCursor"]
    rest = (
        await api.client.get(f"/api/ai/media?limit=2&cursor={first['nextCursor']}", headers=api.auth("gina"))
    ).json()
    assert len(rest["assets"]) == 1 and rest["nextCursor"] is None
    stamps = [asset["createdAt"] for asset in first["assets"] + rest["assets"]]
    assert stamps == sorted(stamps, reverse=True)
    videos = (await api.client.get("/api/ai/media?type=video", headers=api.auth("gina"))).json()
    assert [asset["type"] for asset in videos["assets"]] == ["video"]
    bad = await api.client.get("/api/ai/media?cursor=nonsense", headers=api.auth("gina"))
    assert bad.status_code == 400


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True

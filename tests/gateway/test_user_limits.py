"""Per-user limits hold across gateway replicas (their state is in Postgres), and media is served safely."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..support.events import publish
from ..support.services import TEST_JWT_SECRET, serving
from .conftest import Api
from .test_catalog_events import VALID, _events, _settled

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_replicas(
    usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]
) -> AsyncIterator[list[httpx.AsyncClient]]:
    # A busy machine's slow pool must not end the held streams early (which would free their slots).
    settings = make_gateway_settings(rate_limit_per_minute=6, max_streams_per_user=2, db_acquire_timeout_seconds=60.0)
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            base_url = await stack.enter_async_context(serving(create_gateway(settings)))
            clients.append(await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=30)))
        yield clients


def bearer(user_id: str, **claims: object) -> dict[str, str]:
    now = int(time.time())
    body = {"sub": user_id, "iat": now, "exp": now + 3600, "aud": "authenticated", **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, TEST_JWT_SECRET, algorithm='HS256')}"}


async def test_a_burst_from_one_user_over_two_replicas_gets_429_while_another_user_is_unaffected(
    two_replicas: list[httpx.AsyncClient],
) -> None:
    statuses = []
    for attempt in range(10):  # alternating replicas: only a shared count stops this at six
        response = await two_replicas[attempt % 2].get("/api/me/caption-settings", headers=bearer("bursty"))
        statuses.append(response.status_code)
    refused = await two_replicas[0].get("/api/me/caption-settings", headers=bearer("bursty"))
    other = await two_replicas[1].get("/api/me/caption-settings", headers=bearer("calm"))

    # A minute boundary may fall inside the burst and start a fresh window: at least the overflow is refused.
    assert statuses.count(429) >= 1 and statuses[:6].count(200) >= 5
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert set(refused.json()) == {"error", "message"}
    assert other.status_code == 200


async def test_a_stream_beyond_the_users_cap_is_refused_on_any_replica(two_replicas: list[httpx.AsyncClient]) -> None:
    headers = bearer("streamer")
    async with AsyncExitStack() as stack:
        for client in two_replicas:
            response = await stack.enter_async_context(client.stream("GET", "/api/ai/media/events", headers=headers))
            assert response.status_code == 200
        # Opened as a stream too: if it were let through, the test fails at once instead of reading forever.
        async with two_replicas[0].stream("GET", "/api/ai/media/events", headers=headers) as third:
            assert third.status_code == 429
            assert "retry-after" in third.headers


async def test_an_anonymous_user_is_refused_generation_with_a_clear_message(api: Api) -> None:
    body = {"prompt": "A lighthouse at dawn", "provider": "gemini-2.5-flash-image", "type": "image"}
    response = await api.client.post("/api/ai/generate-media", json=body, headers=bearer("guest", is_anonymous=True))

    assert response.status_code == 403
    assert "Guest accounts cannot generate" in response.json()["message"]


async def test_usage_shows_the_monthly_caption_allowance(api: Api) -> None:
    response = await api.client.get("/api/usage", headers=api.auth("counting"))

    assert response.status_code == 200
    assert response.json()["captionLimit"] == 30
    assert response.json()["captionsUsed"] == 0
    assert response.json()["captionsRemaining"] == 30


async def test_deeply_nested_json_is_a_400_not_a_500(api: Api) -> None:
    deep = '{"prompt": ' + "[" * 30_000 + "]" * 30_000 + "}"  # within the size limit, far past the stack
    response = await api.client.post(
        "/api/ai/generate-media", content=deep, headers={**api.auth("nester"), "content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


async def test_admin_plan_changes_are_audited_and_readable_by_admins_only(api: Api) -> None:
    changed = await api.client.put(
        "/api/admin/users/u-audit/plan", json={"plan": "pro"}, headers=api.auth("boss", "admin")
    )
    assert changed.status_code == 200

    audit = await api.client.get("/api/admin/audit", headers=api.auth("boss", "admin"))
    refused = await api.client.get("/api/admin/audit", headers=api.auth("someone"))

    entry = audit.json()["entries"][0]
    assert (entry["actorId"], entry["action"], entry["targetUserId"], entry["detail"]) == (
        "boss",
        "set_plan",
        "u-audit",
        {"plan": "pro"},
    )
    assert refused.status_code == 403


async def test_media_is_served_with_nosniff_a_sandbox_and_an_inline_file_name(
    api: Api, nats_url: str, media_dir: Path
) -> None:
    asset = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("viewer"))).json()
    _, completed, _ = _events(asset["id"], "viewer")
    stored = media_dir / completed.media.storage_key
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    await publish(nats_url, completed)
    settled = await _settled(api, "viewer", asset["id"])

    link = httpx.URL(settled["resultUrl"])  # on the public base URL; the same path on this test server
    response = await api.client.get(link.raw_path.decode())

    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["content-disposition"] == f'inline; filename="{asset["id"]}.png"'

"""Captions through the gateway: automatic ones on the asset, on demand by request/reply to the
captioner, and the user's caption system prompt; over real NATS, Postgres and the provider simulator."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from aistudio_contracts import MediaType, subjects
from aistudio_runtime.migrations import downgrade, migrations_for, upgrade
from captioner.app import create_app as create_captioner
from captioner.settings import CaptionerSettings
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..captioner.harness import completed, eventually, fetch, openai_calls, publish
from ..support.services import running, serving
from ..support.simulator import SimulatorAdmin
from .conftest import Api

pytestmark = pytest.mark.integration


@pytest.fixture
def captioner_options() -> dict[str, Any]:
    """Few attempts, so that failing captions settle quickly in these tests."""
    return {"caption_max_attempts": 2}


async def _asset(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    return (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()  # type: ignore[no-any-return]


async def _requested(api: Api, user: str, prompt: str, media_type: str = "image") -> dict[str, Any]:
    provider = "kie-veo3" if media_type == "video" else "kie-4o-image"
    body = {"prompt": prompt, "provider": provider, "type": media_type}
    response = await api.client.post("/api/ai/generate-media", json=body, headers=api.auth(user))
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def _finished(api: Api, media_dir: Path, user: str, prompt: str, media_type: str = "image") -> dict[str, Any]:
    """An asset the generator has finished: requested through the API, completed as the generator would."""
    asset = await _requested(api, user, prompt, media_type)
    event = completed(
        media_dir, prompt=prompt, media_type=MediaType(media_type), user_id=user, asset_id=UUID(asset["id"])
    )
    await publish(api.settings.nats_url, event)

    async def ready() -> dict[str, Any] | None:
        current = await _asset(api, user, asset["id"])
        return current if current["status"] == "ready" else None

    return await eventually(ready)


async def _caption_settled(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        current = await _asset(api, user, asset_id)
        return current if current["captionStatus"] in ("ready", "failed") else None

    return await eventually(settled)


async def test_a_finished_image_shows_its_automatic_caption(
    api: Api, captioner: CaptionerSettings, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A serene mountain landscape at sunset")
    assert asset["captionStatus"] in ("pending", "ready")

    captioned = await _caption_settled(api, "alice", asset["id"])
    assert captioned["captionStatus"] == "ready"
    assert captioned["caption"].startswith("A serene mountain landscape at sunset")
    assert captioned["status"] == "ready"


async def test_a_finished_video_shows_its_automatic_caption(
    api: Api, captioner: CaptionerSettings, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A drone shot over a foggy forest at dawn", "video")
    captioned = await _caption_settled(api, "alice", asset["id"])
    assert captioned["captionStatus"] == "ready" and captioned["type"] == "video"
    assert "frame of a video" not in captioned["caption"]


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
async def test_a_caption_that_keeps_failing_never_changes_the_media_status(
    fault: str, api: Api, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path
) -> None:
    prompt = f"A neon city skyline at midnight [sim:openai={fault}]"
    asset = await _finished(api, media_dir, "alice", prompt)

    failed = await _caption_settled(api, "alice", asset["id"])
    assert (failed["status"], failed["captionStatus"], failed["caption"]) == ("ready", "failed", None)
    assert failed["resultUrl"] and failed["errorCode"] is None
    assert len(openai_calls(simulator.requests("openai"), "A neon city skyline")) == 2  # retried, then given up


async def test_an_on_demand_caption_answers_with_the_caption_and_becomes_the_assets_caption(
    api: Api, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A bowl of ramen on a rainy night")
    automatic = await _caption_settled(api, "alice", asset["id"])

    response = await api.client.post(
        "/api/caption/generate-from-media",
        json={"mediaId": asset["id"], "prompt": "Steaming noodles in a cozy tokyo alley"},
        headers=api.auth("alice"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["caption"].startswith("Steaming noodles in a cozy tokyo alley")
    assert body["metadata"]["model"] == "gpt-4o-mini" and body["metadata"]["mediaType"] == "image"
    assert body["caption"] != automatic["caption"]

    async def shown() -> bool:
        return (await _asset(api, "alice", asset["id"]))["caption"] == body["caption"]

    await eventually(shown)
    [call] = openai_calls(simulator.requests("openai"), "Steaming noodles")
    assert call["images"] == 1


@pytest.mark.parametrize("captioner_options", [{"caption_max_attempts": 2, "openai_timeout_seconds": 20.0}])
async def test_on_demand_captions_for_several_users_are_written_side_by_side(
    api: Api, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path
) -> None:
    users = ("alice", "bob", "carol")
    assets = [await _finished(api, media_dir, user, f"A windmill in a tulip field for {user}") for user in users]
    # Each answer takes 4 s, so three asked at once overlap even when a loaded machine starts them apart.
    simulator.configure(openai_seconds=4.0, time_scale=1.0)

    async def ask(user: str, asset: dict[str, Any]) -> httpx.Response:
        body = {"mediaId": asset["id"], "prompt": f"A windmill at dusk, asked by {user}"}
        return await api.client.post("/api/caption/generate-from-media", json=body, headers=api.auth(user))

    # The automatic captions of the three assets are done first: each settled, and no call left in
    # flight (no call in flight alone could be read before the first automatic one had started).
    for user, asset in zip(users, assets, strict=True):
        await _caption_settled(api, user, asset["id"])

    async def quiet() -> bool:
        return not simulator.stats()["openaiInFlight"]

    await eventually(quiet)
    asked = asyncio.gather(*(ask(user, asset) for user, asset in zip(users, assets, strict=True)))
    most_at_once = 0
    while not asked.done():
        most_at_once = max(most_at_once, simulator.stats()["openaiInFlight"])
        await asyncio.sleep(0.05)
    assert [response.status_code for response in await asked] == [200, 200, 200]
    assert most_at_once == 3  # answered side by side, not one after the other


async def test_an_on_demand_caption_without_a_prompt_uses_the_assets_prompt(
    api: Api, captioner: CaptionerSettings, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A drone shot over a foggy forest at dawn", "video")
    response = await api.client.post(
        "/api/caption/generate-from-media", json={"mediaId": asset["id"]}, headers=api.auth("alice")
    )
    assert response.status_code == 200, response.text
    assert response.json()["caption"].startswith("A drone shot over a foggy forest at dawn")
    assert response.json()["metadata"]["mediaType"] == "video"


async def test_an_on_demand_caption_for_a_missing_foreign_or_malformed_id_is_not_found(
    api: Api, captioner: CaptionerSettings, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A lighthouse in a winter storm")
    for media_id, user in ((str(uuid4()), "alice"), (asset["id"], "mallory"), ("not-a-uuid", "alice"), ("", "alice")):
        response = await api.client.post(
            "/api/caption/generate-from-media", json={"mediaId": media_id}, headers=api.auth(user)
        )
        assert response.status_code == 404, (media_id, user, response.text)
        assert response.json() == {"error": "Media asset not found"}


async def test_an_on_demand_caption_for_an_asset_still_processing_is_a_conflict(
    api: Api, captioner: CaptionerSettings, simulator: SimulatorAdmin
) -> None:
    asset = await _requested(api, "alice", "A castle made of clouds")
    response = await api.client.post(
        "/api/caption/generate-from-media", json={"mediaId": asset["id"]}, headers=api.auth("alice")
    )
    assert response.status_code == 409
    assert response.json()["error"] == "Media asset is not ready"
    assert simulator.requests("openai") == []


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
async def test_an_on_demand_caption_openai_fails_to_write_is_a_bad_gateway(
    fault: str, api: Api, captioner: CaptionerSettings, media_dir: Path
) -> None:
    asset = await _finished(api, media_dir, "alice", "A paper boat on a puddle")
    response = await api.client.post(
        "/api/caption/generate-from-media",
        json={"mediaId": asset["id"], "prompt": f"A paper boat on a puddle [sim:openai={fault}]"},
        headers=api.auth("alice"),
    )
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "Failed to generate caption" and isinstance(body["details"], str) and body["details"]
    assert (await _asset(api, "alice", asset["id"]))["status"] == "ready"


async def test_an_on_demand_caption_without_a_captioner_is_unavailable(api: Api, media_dir: Path) -> None:
    asset = await _finished(api, media_dir, "alice", "A quiet library at closing time")
    response = await api.client.post(
        "/api/caption/generate-from-media", json={"mediaId": asset["id"]}, headers=api.auth("alice")
    )
    assert response.status_code == 503
    assert response.json()["error"] == "Service temporarily unavailable" and response.json()["message"]
    assert response.headers["retry-after"]


async def test_an_on_demand_caption_the_captioner_is_too_slow_for_is_unavailable_not_a_hang(
    usage_service: None,
    make_gateway_settings: Callable[..., GatewaySettings],
    make_captioner_settings: Callable[..., CaptionerSettings],
    simulator: SimulatorAdmin,
    media_dir: Path,
) -> None:
    simulator.configure(openai_seconds=3.0, time_scale=1.0)
    settings = make_gateway_settings(caption_rpc_timeout_seconds=0.5)
    slow = make_captioner_settings(openai_timeout_seconds=10.0)
    async with (
        serving(create_gateway(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        running(create_captioner(slow)),
    ):
        api = Api(base_url, client, settings)
        asset = await _finished(api, media_dir, "alice", "A snail racing a tortoise")
        response = await client.post(
            "/api/caption/generate-from-media", json={"mediaId": asset["id"]}, headers=api.auth("alice")
        )
        # The client's own timeout would fail the test if the gateway waited for the slow captioner.
        assert response.status_code == 503 and response.json()["error"] == "Service temporarily unavailable"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"mediaId": 42}, 400),
        ({"mediaId": str(uuid4()), "prompt": "x" * 1001}, 400),
        ({"mediaId": str(uuid4()), "prompt": "nul \u0000 inside"}, 400),
        ([], 400),
        ("not json", 400),
    ],
)
async def test_an_on_demand_caption_request_that_is_not_understood_is_invalid_input(
    body: Any, status: int, api: Api
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = await api.client.post(
        "/api/caption/generate-from-media",
        content=content,
        headers={**api.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == "Invalid input" and response.json()["details"]


async def test_captions_need_a_signed_in_user(api: Api) -> None:
    for method, path in (
        ("POST", "/api/caption/generate-from-media"),
        ("GET", "/api/me/caption-settings"),
        ("PUT", "/api/me/caption-settings"),
    ):
        response = await api.client.request(method, path, json={"mediaId": str(uuid4())})
        assert response.status_code == 401, (method, path)


async def test_caption_settings_are_stored_reset_and_validated(api: Api, database_url: str) -> None:
    url, alice = "/api/me/caption-settings", api.auth("alice")
    assert (await api.client.get(url, headers=alice)).json() == {"captionSystemPrompt": None, "updatedAt": None}

    stored = await api.client.put(url, json={"captionSystemPrompt": "  Write like a pirate.  "}, headers=alice)
    assert stored.status_code == 200 and stored.json()["captionSystemPrompt"] == "Write like a pirate."
    assert (await api.client.get(url, headers=alice)).json()["captionSystemPrompt"] == "Write like a pirate."
    assert (await api.client.get(url, headers=api.auth("bob"))).json()["captionSystemPrompt"] is None
    again = await api.client.put(url, json={"captionSystemPrompt": "Write like a pirate."}, headers=alice)
    assert again.status_code == 200

    too_long = await api.client.put(url, json={"captionSystemPrompt": "x" * 2001}, headers=alice)
    assert too_long.status_code == 400 and too_long.json()["details"][0]["path"] == ["captionSystemPrompt"]
    not_text = await api.client.put(url, json={"captionSystemPrompt": ["x"]}, headers=alice)
    assert not_text.status_code == 400
    with_nul = await api.client.put(url, json={"captionSystemPrompt": "a\u0000b"}, headers=alice)
    assert with_nul.status_code == 400
    assert (await api.client.put(url, json={"captionSystemPrompt": "x" * 2000}, headers=alice)).status_code == 200

    reset = await api.client.put(url, json={"captionSystemPrompt": "   "}, headers=alice)
    assert reset.status_code == 200 and reset.json()["captionSystemPrompt"] is None
    assert (await api.client.put(url, json={"captionSystemPrompt": None}, headers=alice)).status_code == 200

    # Each change (not a repeat) is published for the captioner, in order of version.
    rows = await fetch(database_url, "SELECT subject, payload FROM gateway.outbox ORDER BY id")
    changes = [json.loads(row["payload"]) for row in rows if row["subject"] == subjects.CAPTION_SETTINGS_CHANGED]
    assert [(change["caption_system_prompt"], change["version"]) for change in changes] == [
        ("Write like a pirate.", 1),
        ("x" * 2000, 2),
        (None, 3),
    ]


async def test_the_stored_system_prompt_reaches_the_model_for_automatic_and_on_demand_captions(
    api: Api, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    house_style = "You are a pirate. Caption everything in pirate speak."
    response = await api.client.put(
        "/api/me/caption-settings", json={"captionSystemPrompt": house_style}, headers=api.auth("alice")
    )
    assert response.status_code == 200

    async def copied() -> bool:
        rows = await fetch(database_url, "SELECT caption_system_prompt FROM captioner.user_settings")
        return [row["caption_system_prompt"] for row in rows] == [house_style]

    await eventually(copied)
    asset = await _finished(api, media_dir, "alice", "A pirate ship at golden hour")
    await _caption_settled(api, "alice", asset["id"])
    on_demand = await api.client.post(
        "/api/caption/generate-from-media",
        json={"mediaId": asset["id"], "prompt": "A treasure map on an old table"},
        headers=api.auth("alice"),
    )
    assert on_demand.status_code == 200 and on_demand.json()["metadata"]["systemPrompt"] == "custom"

    requests = simulator.requests("openai")
    assert openai_calls(requests, "A pirate ship at golden hour")[0]["systemPrompt"] == house_style
    assert openai_calls(requests, "A treasure map on an old table")[0]["systemPrompt"] == house_style


async def test_the_caption_settings_migration_can_be_undone_and_redone(database_url: str) -> None:
    versions = [migration.version for migration in migrations_for("gateway")]
    since = versions[versions.index("0002") :]
    conn = await asyncpg.connect(database_url)
    try:
        assert await downgrade(conn, "gateway", steps=len(since)) == since[::-1]
        assert await conn.fetchval("SELECT to_regclass('gateway.user_settings')") is None
        assert await upgrade(conn, "gateway") == since
        assert await conn.fetchval("SELECT to_regclass('gateway.user_settings')") is not None
    finally:
        await conn.close()

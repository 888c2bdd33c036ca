"""Posting end to end in-process: simulator (Late on the wire), usage, gateway and publisher over a
real NATS JetStream and Postgres. Ready assets are made through the catalog's own moves (a
generation accepted by the API, then its GenerationCompleted) with bytes in the media store."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from aistudio_contracts import GenerationCompleted, MediaType, Provider, StoredMedia
from aistudio_devstack import free_port
from aistudio_runtime.mediastore import LocalMediaStore
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from provider_simulator import create_app as create_simulator
from publisher.app import create_app as create_publisher
from publisher.settings import PublisherSettings
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..gateway.conftest import gateway_settings
from ..support.services import TEST_JWT_SECRET, common_env, running, serving
from ..support.simulator import ServerThread, simulator_config

WEBHOOK_SECRET = "test-late-webhook-secret"
# Late's calls answer in milliseconds here; a "timeout" create holds its answer well past this.
LATE_READ_TIMEOUT_SECONDS = 2.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64

_PROVIDERS = {"1:1": Provider.KIE_4O_IMAGE, "3:2": Provider.KIE_4O_IMAGE, "2:3": Provider.KIE_4O_IMAGE}


@pytest.fixture(scope="session")
def late_server() -> Iterator[ServerThread]:
    port = free_port()
    with ServerThread(create_simulator(simulator_config(port)), port) as server:
        yield server


class LateAdmin:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=10)

    def reset(self) -> None:
        self._http.post("/_admin/late/reset").raise_for_status()

    def configure(self, **patch: Any) -> None:
        self._http.post("/_admin/late/config", json=patch).raise_for_status()

    def posts(self) -> list[dict[str, Any]]:
        return list(self._http.get("/_admin/late/posts").json())

    def webhooks(self) -> dict[str, Any]:
        return dict(self._http.get("/_admin/late/webhooks").json())

    def replay(self, webhook_id: str) -> bool:
        return bool(self._http.post(f"/_admin/late/webhooks/{webhook_id}/replay").json()["replayed"])

    def posts_for(self, post_id: str) -> list[dict[str, Any]]:
        return [p for p in self.posts() if (p.get("metadata") or {}).get("postId") == post_id]


@pytest.fixture
def late(late_server: ServerThread) -> LateAdmin:
    admin = LateAdmin(late_server.url)
    admin.reset()
    admin.configure(publish_seconds=0.2, hang_seconds=LATE_READ_TIMEOUT_SECONDS + 1.5, webhook_copies=1)
    return admin


def publisher_settings(nats_url: str, database_url: str, media_dir: Path, late_url: str, gateway_url: str,
                       **overrides: Any) -> PublisherSettings:  # fmt: skip
    values: dict[str, Any] = {
        **common_env(nats_url, database_url),
        "late_api_key": "sk_test_publisher",
        "late_base_url": f"{late_url}/late/api/v1",
        "late_webhook_secret": WEBHOOK_SECRET,
        "late_timeout_seconds": LATE_READ_TIMEOUT_SECONDS,
        "late_publish_timeout_seconds": LATE_READ_TIMEOUT_SECONDS,
        "public_base_url": gateway_url,
        "media_dir": str(media_dir),
        "poll_min_seconds": 0.5,
        "poll_max_seconds": 2.0,
        "create_backoff_seconds": 0.2,
        "post_lease_seconds": 3.0,
    }
    return PublisherSettings(**{**values, **overrides})


@dataclass
class System:
    api: httpx.AsyncClient
    late: LateAdmin
    gateway_url: str
    nats_url: str
    database_url: str
    media_dir: Path
    start_publisher: Callable[..., contextlib.AbstractAsyncContextManager[Any]]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, user)}"}

    async def ready_asset(
        self,
        user: str,
        *,
        aspect_ratio: str = "1:1",
        content_type: str = "image/png",
        media_type: MediaType = MediaType.IMAGE,
        caption: str | None = None,
    ) -> str:
        """An asset made ready through the catalog's own moves, its bytes in our store."""
        provider = Provider.KIE_VEO3 if media_type is MediaType.VIDEO else _PROVIDERS.get(aspect_ratio)
        provider = provider or Provider.KIE_FLUX_KONTEXT
        body = {"prompt": caption or "A calm lake at dawn", "provider": provider.value, "type": media_type.value,
                "aspectRatio": aspect_ratio}  # fmt: skip
        response = await self.api.post("/api/ai/generate-media", json=body, headers=self.auth(user))
        assert response.status_code == 202, response.text
        asset_id = response.json()["id"]
        key = f"2026/12/{asset_id}.{'mp4' if media_type is MediaType.VIDEO else 'png'}"
        data = MP4 if media_type is MediaType.VIDEO else PNG
        await LocalMediaStore(self.media_dir).put(key, data, content_type)
        completed = GenerationCompleted(
            correlation_id=asset_id,
            asset_id=asset_id,
            user_id=user,
            provider=provider,
            media_type=media_type,
            prompt=body["prompt"],
            task_id="t" * 32,
            media=StoredMedia(storage_key=key, content_type=content_type, size_bytes=len(data), sha256="0" * 64),
        )
        client = await nats.connect(self.nats_url)
        try:
            await client.jetstream().publish(
                completed.subject, completed.to_json(), headers={"Nats-Msg-Id": str(completed.event_id)}
            )
        finally:
            await client.close()
        await self.wait_for(
            lambda: self.api.get(f"/api/ai/media/{asset_id}", headers=self.auth(user)),
            lambda asset: asset["status"] == "ready",
        )
        return str(asset_id)

    async def post(self, user: str, asset_id: str, expect: int = 202, **body: Any) -> dict[str, Any]:
        body.setdefault("accountIds", ["acc_instagram"])
        response = await self.api.post(f"/api/ai/media/{asset_id}/posts", json=body, headers=self.auth(user))
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    async def wait_post(self, user: str, post_id: str, status: str, within: float = 60.0) -> dict[str, Any]:
        post = await self.wait_for(
            lambda: self.api.get(f"/api/posts/{post_id}", headers=self.auth(user)),
            lambda body: body["post"]["status"] == status,
            within=within,
        )
        return post["post"]  # type: ignore[no-any-return]

    async def wait_for(self, fetch: Callable[[], Any], done: Callable[[dict[str, Any]], bool],
                       within: float = 60.0) -> dict[str, Any]:  # fmt: skip
        deadline = time.monotonic() + within
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = await fetch()
            last = response.json()
            if response.status_code == 200 and done(last):
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"condition not met within {within}s; last: {last}")


@pytest.fixture
async def system(nats_url: str, database_url: str, media_dir: Path, late: LateAdmin) -> AsyncIterator[System]:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    gateway = create_gateway(
        gateway_settings(nats_url, database_url, media_dir, late_webhook_secret=WEBHOOK_SECRET,
                         public_base_url=gateway_url)
    )  # fmt: skip

    def start_publisher(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        settings = publisher_settings(nats_url, database_url, media_dir, late.url, gateway_url, **overrides)
        return running(create_publisher(settings))

    async with (
        running(create_usage(UsageSettings(**common_env(nats_url, database_url)))),
        serving(gateway, port),
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as client,
    ):
        yield System(client, late, gateway_url, nats_url, database_url, media_dir, start_publisher)

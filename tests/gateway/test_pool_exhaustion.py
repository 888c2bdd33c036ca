"""With every database connection taken, the gateway answers 503 at once instead of queueing requests.

No timing is asserted: the client's own timeout, far longer than DB_ACQUIRE_TIMEOUT_SECONDS, is what
fails a test whose request would hang.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest

from gateway.api.deps import Gateway
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..support.services import serving
from .conftest import Api

pytestmark = pytest.mark.integration

ACQUIRE_TIMEOUT_SECONDS = 1.0
# Far longer than the acquire timeout, and generous for a loaded machine: only a hang reaches it.
CLIENT_TIMEOUT_SECONDS = 60.0
GENERATE = {"prompt": "A red fox in fresh snow at dawn", "provider": "kie-4o-image", "type": "image"}


@dataclass
class Starved:
    api: Api
    gateway: Gateway

    @contextlib.asynccontextmanager
    async def every_connection_held(self) -> AsyncIterator[None]:
        """Takes every connection the pool may open (waiting for the gateway's own background work to
        give its back) and returns them afterwards."""
        pool: asyncpg.Pool = self.gateway.catalog.pool
        held: list[asyncpg.Connection] = []
        try:
            for _ in range(pool.get_max_size()):
                held.append(await pool.acquire(timeout=CLIENT_TIMEOUT_SECONDS))
            yield
        finally:
            for connection in held:
                await pool.release(connection)


@pytest.fixture
async def starved(usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]) -> AsyncIterator[Starved]:
    settings = make_gateway_settings(db_pool_max=3, db_acquire_timeout_seconds=ACQUIRE_TIMEOUT_SECONDS)
    app = create_gateway(settings)
    async with (
        serving(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client,
    ):
        yield Starved(Api(base_url, client, settings), app.state.gateway)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "Service temporarily unavailable"
    assert response.headers["retry-after"] == "5"


async def test_with_every_pool_connection_held_api_requests_answer_503_and_work_again_after(
    starved: Starved,
) -> None:
    api = starved.api
    async with starved.every_connection_held():
        assert_unavailable(await api.client.get("/api/ai/media", headers=api.auth("ivy")))
        assert_unavailable(
            await api.client.post(
                "/api/ai/generate-media", json=GENERATE, headers={**api.auth("ivy"), "Idempotency-Key": "k-1"}
            )
        )
    listed = await api.client.get("/api/ai/media", headers=api.auth("ivy"))
    assert listed.status_code == 200, listed.text


async def test_with_every_pool_connection_held_a_signed_media_link_answers_503(starved: Starved) -> None:
    # The media route reads the catalog with the pool's own fetchrow, no rate limit in front of it: the
    # pool's default acquire timeout is what answers here.
    link = urlsplit(starved.gateway.links.media_url(uuid4()))
    async with starved.every_connection_held():
        assert_unavailable(await starved.api.client.get(f"{link.path}?{link.query}"))
    missing = await starved.api.client.get(f"{link.path}?{link.query}")
    assert missing.status_code == 404, missing.text


async def test_the_pools_own_queries_give_up_after_the_acquire_timeout(starved: Starved) -> None:
    pool: asyncpg.Pool = starved.gateway.catalog.pool
    async with starved.every_connection_held(), asyncio.timeout(CLIENT_TIMEOUT_SECONDS):
        with pytest.raises(TimeoutError):
            await pool.fetchval("SELECT 1")

"""The system in-process for the creative controls: simulator, usage, gateway, generator and poller
over a real NATS JetStream and Postgres, with the generator started when a test says so (a job
that must provably never be sent waits for it)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from aistudio_devstack import free_port
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from generator.app import create_app as create_generator
from generator.settings import GeneratorSettings
from poller.app import create_app as create_poller
from poller.settings import PollerSettings
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..gateway.conftest import gateway_settings
from ..lifecycle.conftest import CALLBACK_KEY, System, lifecycle_simulator, provider_env, simulator  # noqa: F401
from ..support.services import TEST_JWT_SECRET, common_env, running, serving

WAIT_SECONDS = 60.0  # four services and NATS on a loaded 2-core machine


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = WAIT_SECONDS) -> Any:
    """Poll until `check` returns something truthy (generous: the machine is shared)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Creative(System):
    start_generator: Callable[[], contextlib.AbstractAsyncContextManager[Any]] = contextlib.nullcontext
    db: asyncpg.Pool | None = None

    def auth_admin(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, user, role='admin')}"}

    async def usage(self, user: str) -> dict[str, Any]:
        return (await self.api.get("/api/usage", headers=self.auth(user))).json()  # type: ignore[no-any-return]

    async def settled_usage(self, user: str) -> dict[str, Any]:
        """The user's usage once nothing is reserved any more: a ready asset is charged when usage has
        read its settlement, a moment after the catalog shows it ready."""

        async def settled() -> dict[str, Any] | None:
            usage = await self.usage(user)
            return usage if usage["reserved"] == 0 else None

        return await eventually(settled, f"{user}'s reservations settled")  # type: ignore[no-any-return]

    async def cancel(self, user: str, asset_id: str) -> httpx.Response:
        return await self.api.post(f"/api/ai/media/{asset_id}/cancel", headers=self.auth(user))

    async def asset(self, user: str, asset_id: str) -> dict[str, Any]:
        return (await self.api.get(f"/api/ai/media/{asset_id}", headers=self.auth(user))).json()  # type: ignore[no-any-return]

    async def row(self, query: str, *args: Any) -> asyncpg.Record | None:
        assert self.db is not None
        return await self.db.fetchrow(query, *args)


@pytest.fixture
def creative_options() -> dict[str, Any]:
    """Tests override this: `generator` False leaves the generator to the test; `gateway_public_base_url`
    is the gateway's PUBLIC_BASE_URL (default: where it listens)."""
    return {}


@pytest.fixture
async def system(
    nats_url: str,
    database_url: str,
    media_dir: Path,
    simulator: Any,  # noqa: F811
    creative_options: dict[str, Any],
) -> AsyncIterator[Creative]:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = common_env(nats_url, database_url)
    providers = provider_env(simulator.url)
    timeout = creative_options.get("generation_timeout_seconds", 60)
    gateway = create_gateway(
        gateway_settings(
            nats_url,
            database_url,
            media_dir,
            # An edit's input link is built from it: a test may point it where no provider can reach.
            public_base_url=creative_options.get("gateway_public_base_url", gateway_url),
            callback_signing_key=CALLBACK_KEY,
            generation_timeout_seconds=timeout,
        )
    )

    def start_generator() -> contextlib.AbstractAsyncContextManager[Any]:
        return running(
            create_generator(
                GeneratorSettings(
                    **{
                        **env,
                        **providers,
                        "public_base_url": gateway_url,
                        "callback_signing_key": CALLBACK_KEY,
                        "kie_submit_window_seconds": 2.0,
                        "media_dir": str(media_dir),
                        **creative_options.get("generator_settings", {}),
                    }
                )
            )
        )

    def start_poller() -> contextlib.AbstractAsyncContextManager[Any]:
        return running(
            create_poller(
                PollerSettings(
                    **env,
                    **providers,
                    poll_interval_seconds=0.2,
                    generation_timeout_seconds=timeout,
                    media_dir=str(media_dir),
                )
            )
        )

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(create_usage(UsageSettings(**env))))
        await stack.enter_async_context(serving(gateway, port))
        if creative_options.get("generator", True):
            await stack.enter_async_context(start_generator())
        await stack.enter_async_context(start_poller())
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway_url, timeout=10))
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        yield Creative(client, simulator, gateway_url, database_url, start_poller, start_generator, pool)

"""The whole generation lifecycle in-process: simulator, usage, gateway, generator and poller
over a real NATS JetStream and Postgres."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aistudio_devstack import free_port
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from generator.app import create_app as create_generator
from generator.settings import GeneratorSettings
from poller.app import create_app as create_poller
from poller.settings import PollerSettings
from provider_simulator import create_app as create_simulator
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..gateway.conftest import gateway_settings
from ..support.services import TEST_JWT_SECRET, common_env, running, serving
from ..support.simulator import ServerThread, SimulatorAdmin, simulator_config

CALLBACK_KEY = "lifecycle-callback-key"
LIFECYCLE_READ_TIMEOUT_SECONDS = 2.0


@pytest.fixture(scope="session")
def lifecycle_simulator() -> Iterator[ServerThread]:
    port = free_port()
    config = simulator_config(port).model_copy(
        update={
            "callback_hmac_key": None,
            "rate_limit_submissions": 20,
            "rate_limit_window_seconds": 1.0,
            # A "timeout" fault outlasts the clients' read timeout below, which is generous enough
            # that a busy machine does not turn an ordinary submit into an ambiguous one.
            "hang_seconds": LIFECYCLE_READ_TIMEOUT_SECONDS + 1.5,
        }
    )
    with ServerThread(create_simulator(config), port) as server:
        yield server


@pytest.fixture
def simulator(lifecycle_simulator: ServerThread) -> SimulatorAdmin:
    admin = SimulatorAdmin(lifecycle_simulator.url)
    admin.reset()
    return admin


def provider_env(simulator_url: str) -> dict[str, Any]:
    return {
        "kie_api_key": "sim-kie",
        "kie_base_url": simulator_url,
        "gemini_api_key": "sim-gemini",
        "gemini_base_url": simulator_url,
        "openai_api_key": "sim-openai",
        "openai_base_url": f"{simulator_url}/v1",
        "http_read_timeout_seconds": LIFECYCLE_READ_TIMEOUT_SECONDS,
        "kie_retry_initial_seconds": 0.05,
        "kie_retry_max_seconds": 0.1,
    }


@dataclass
class System:
    api: httpx.AsyncClient
    simulator: SimulatorAdmin
    gateway_url: str
    database_url: str
    start_poller: Callable[[], contextlib.AbstractAsyncContextManager[Any]]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, user)}"}

    async def generate(self, user: str, **body: Any) -> dict[str, Any]:
        response = await self.api.post("/api/ai/generate-media", json=body, headers=self.auth(user))
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    async def wait_finished(self, user: str, asset_id: str, within: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            response = await self.api.get(f"/api/ai/media/{asset_id}", headers=self.auth(user))
            asset = response.json() if response.status_code == 200 else {"status": "processing"}
            if asset["status"] != "processing":
                return asset  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise AssertionError(f"asset still processing after {within}s: {asset}")
            await asyncio.sleep(0.05)


@pytest.fixture
def lifecycle_options() -> dict[str, Any]:
    """Tests override this to change timings (poll interval, deadline, callbacks)."""
    return {}


@pytest.fixture
async def system(
    nats_url: str, database_url: str, media_dir: Path, simulator: SimulatorAdmin, lifecycle_options: dict[str, Any]
) -> AsyncIterator[System]:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = {**common_env(nats_url, database_url), "max_deliver": lifecycle_options.get("max_deliver", 10)}
    providers = provider_env(simulator.url)
    poll = lifecycle_options.get("poll_interval_seconds", 0.2)
    timeout = lifecycle_options.get("generation_timeout_seconds", 60)
    gateway = create_gateway(
        gateway_settings(
            nats_url,
            database_url,
            media_dir,
            public_base_url=gateway_url,
            callback_signing_key=CALLBACK_KEY,
            generation_timeout_seconds=timeout,
            max_deliver=env["max_deliver"],
            # These tests poll every asset far faster than a person's page would, on a machine that may
            # be busy with other work: no per-user request limit, and time to wait for a connection.
            rate_limit_per_minute=1_000_000,
            db_acquire_timeout_seconds=60.0,
        )
    )
    generator = create_generator(
        GeneratorSettings(
            **env,
            **providers,
            public_base_url=gateway_url,
            callback_signing_key=CALLBACK_KEY,
            kie_callbacks_enabled=lifecycle_options.get("callbacks", True),
            # The simulator counts 20 per 1 s; a window twice as wide absorbs scheduling jitter on a busy CI machine.
            kie_submit_window_seconds=2.0,
            media_dir=str(media_dir),
            in_flight_grace_seconds=lifecycle_options.get("in_flight_grace_seconds", 5.0),
        )
    )

    def start_poller() -> contextlib.AbstractAsyncContextManager[Any]:
        return running(
            create_poller(
                PollerSettings(
                    **env,
                    **providers,
                    poll_interval_seconds=poll,
                    generation_timeout_seconds=timeout,
                    media_dir=str(media_dir),
                )
            )
        )

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(create_usage(UsageSettings(**env))))
        await stack.enter_async_context(serving(gateway, port))
        await stack.enter_async_context(running(generator))
        await stack.enter_async_context(start_poller())
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway_url, timeout=90))
        yield System(client, simulator, gateway_url, database_url, start_poller)

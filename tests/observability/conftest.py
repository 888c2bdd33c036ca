"""Every service in-process with its health port, over a real NATS and Postgres, with the simulator
on the wire: what an operator would scrape and query under `make run`."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aistudio_devstack import free_port
from captioner.app import create_app as create_captioner
from captioner.settings import CaptionerSettings
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from generator.app import create_app as create_generator
from generator.settings import GeneratorSettings
from poller.app import create_app as create_poller
from poller.settings import PollerSettings
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..gateway.conftest import gateway_settings
from ..lifecycle.conftest import lifecycle_simulator, provider_env, simulator  # noqa: F401  (fixtures)
from ..support.services import TEST_JWT_SECRET, common_env, running, serving
from ..support.simulator import SimulatorAdmin

CALLBACK_KEY = "observability-callback-key"


@dataclass
class Services:
    api: httpx.AsyncClient
    gateway_url: str
    # service name -> the base URL its /metrics is served on
    scrape_urls: dict[str, str]
    simulator: SimulatorAdmin
    nats_url: str
    database_url: str

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, user)}"}

    async def generate(self, user: str, **body: Any) -> str:
        response = await self.api.post("/api/ai/generate-media", json=body, headers=self.auth(user))
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def wait_for(self, what: str, check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not after {within}s")
            await asyncio.sleep(0.1)

    async def asset(self, user: str, asset_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/ai/media/{asset_id}", headers=self.auth(user))
        return response.json()  # type: ignore[no-any-return]

    async def wait_settled(self, user: str, asset_id: str) -> dict[str, Any]:
        """Finished, and (when ready) its caption settled too: every service has done its part."""
        found: dict[str, Any] = {}

        async def settled() -> bool:
            found.update(await self.asset(user, asset_id))
            if found["status"] == "processing":
                return False
            return found["status"] != "ready" or found.get("captionStatus") in ("ready", "failed")

        await self.wait_for(f"asset {asset_id} settled", settled)
        return found


@pytest.fixture
def generator_overrides() -> dict[str, Any]:
    """Settings a test gives the generator on top of these (parametrize it by name to change them)."""
    return {}


@pytest.fixture
async def services(
    nats_url: str,
    database_url: str,
    media_dir: Path,
    simulator: SimulatorAdmin,  # noqa: F811
    generator_overrides: dict[str, Any],
) -> AsyncIterator[Services]:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = common_env(nats_url, database_url)
    providers = provider_env(simulator.url)
    health = {name: free_port() for name in ("generator", "poller", "usage", "captioner")}
    gateway = create_gateway(
        gateway_settings(
            nats_url, database_url, media_dir, public_base_url=gateway_url, callback_signing_key=CALLBACK_KEY
        )
    )
    apps = [
        create_usage(UsageSettings(**env, health_port=health["usage"])),
        create_generator(
            GeneratorSettings(
                **env,
                **providers,
                public_base_url=gateway_url,
                callback_signing_key=CALLBACK_KEY,
                kie_submit_window_seconds=2.0,
                media_dir=str(media_dir),
                health_port=health["generator"],
                **generator_overrides,
            )
        ),
        create_poller(
            PollerSettings(
                **env, **providers, poll_interval_seconds=0.2, media_dir=str(media_dir), health_port=health["poller"]
            )
        ),
        create_captioner(
            CaptionerSettings(**env, **providers, media_dir=str(media_dir), health_port=health["captioner"])
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serving(gateway, port))
        for app in apps:
            await stack.enter_async_context(running(app))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=gateway_url, timeout=10))
        urls = {"gateway": gateway_url, **{name: f"http://127.0.0.1:{p}" for name, p in health.items()}}
        yield Services(client, gateway_url, urls, simulator, nats_url, database_url)


class _WhileRecording(SpanProcessor):
    """Hands spans to the exporter only while a test records: the provider is process-wide and
    stays installed, and later tests must not pile their spans up in memory."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._inner = SimpleSpanProcessor(exporter)
        self.recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self._inner.on_end(span)


_RECORDER: _WhileRecording | None = None
_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider exporting to memory, installed before the services are built (they
    add FastStream's telemetry middleware only when a provider is there)."""
    global _RECORDER
    if _RECORDER is None:
        _RECORDER = _WhileRecording(_EXPORTER)
        provider = TracerProvider()
        provider.add_span_processor(_RECORDER)
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _RECORDER.recording = True
    try:
        yield _EXPORTER
    finally:
        _RECORDER.recording = False
        _EXPORTER.clear()

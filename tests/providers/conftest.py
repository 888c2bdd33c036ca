"""The provider simulator, in-process on a free port, and clients pointed at it.

One simulator for the whole folder (starting uvicorn is the slow part); every test starts from
a reset. Durations are scaled down so the folder runs in seconds.
"""

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aistudio_providers import CaptionWriter, GeminiImageClient, KieClient
from provider_simulator import create_app

from ..support.simulator import (
    CLIENT_TIMEOUT_SECONDS,
    CallbackReceiver,
    ServerThread,
    SimulatorAdmin,
    free_port,
    kie_client,
    simulator_config,
)


@pytest.fixture(scope="session")
def simulator_admin() -> Iterator[SimulatorAdmin]:
    port = free_port()
    with ServerThread(create_app(simulator_config(port)), port) as server:
        admin = SimulatorAdmin(server.url)
        yield admin
        admin.close()


@pytest.fixture
def simulator(simulator_admin: SimulatorAdmin) -> SimulatorAdmin:
    simulator_admin.reset()
    return simulator_admin


@pytest.fixture(scope="session")
def callback_server() -> Iterator[tuple[ServerThread, CallbackReceiver]]:
    receiver = CallbackReceiver()
    port = free_port()
    with ServerThread(receiver.app(), port) as server:
        receiver.url = server.url
        yield server, receiver


@pytest.fixture
def callbacks(callback_server: tuple[ServerThread, CallbackReceiver]) -> CallbackReceiver:
    _, receiver = callback_server
    with receiver.lock:
        receiver.received.clear()
    return receiver


@pytest_asyncio.fixture
async def kie(simulator: SimulatorAdmin) -> AsyncIterator[KieClient]:
    async with kie_client(simulator.url) as client:
        yield client


@pytest_asyncio.fixture
async def gemini(simulator: SimulatorAdmin) -> AsyncIterator[GeminiImageClient]:
    async with GeminiImageClient(
        "test-gemini-key", base_url=simulator.url, timeout_seconds=CLIENT_TIMEOUT_SECONDS * 4
    ) as client:
        yield client


@pytest_asyncio.fixture
async def captions(simulator: SimulatorAdmin) -> AsyncIterator[CaptionWriter]:
    async with CaptionWriter(
        "test-openai-key", base_url=f"{simulator.url}/v1", max_retries=0, timeout_seconds=CLIENT_TIMEOUT_SECONDS
    ) as writer:
        yield writer

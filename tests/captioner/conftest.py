"""The captioner in-process over real NATS and Postgres, writing captions with the provider simulator."""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aistudio_devstack import free_port
from captioner.app import create_app as create_captioner
from captioner.settings import CaptionerSettings
from provider_simulator import create_app as create_simulator

from ..support.services import running
from ..support.simulator import ServerThread, SimulatorAdmin, simulator_config
from .harness import captioner_settings


@pytest.fixture(scope="session")
def caption_simulator() -> Iterator[ServerThread]:
    port = free_port()
    with ServerThread(create_simulator(simulator_config(port)), port) as server:
        yield server


@pytest.fixture
def simulator(caption_simulator: ServerThread) -> SimulatorAdmin:
    admin = SimulatorAdmin(caption_simulator.url)
    admin.reset()
    return admin


@pytest.fixture
def make_captioner_settings(
    nats_url: str, database_url: str, media_dir: Path, simulator: SimulatorAdmin
) -> Callable[..., CaptionerSettings]:
    return lambda **overrides: captioner_settings(nats_url, database_url, media_dir, simulator.url, **overrides)


@pytest.fixture
def captioner_options() -> dict[str, Any]:
    """Tests override this to change the captioner's settings."""
    return {}


@pytest.fixture
async def captioner(
    make_captioner_settings: Callable[..., CaptionerSettings], captioner_options: dict[str, Any]
) -> AsyncIterator[CaptionerSettings]:
    settings = make_captioner_settings(**captioner_options)
    async with running(create_captioner(settings)):
        yield settings

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from gateway.settings import GatewaySettings
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

# The captioner's fixtures (its simulator, settings and running service), for the caption routes' tests.
from ..captioner.conftest import caption_simulator, captioner, make_captioner_settings, simulator  # noqa: F401
from ..support.services import TEST_JWT_SECRET, common_env, running, serving


@dataclass
class Api:
    base_url: str
    client: httpx.AsyncClient
    settings: GatewaySettings

    def token(self, user_id: str, role: str | None = None) -> str:
        return mint_token(TEST_JWT_SECRET, user_id, role=role)

    def auth(self, user_id: str, role: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role)}"}


def gateway_settings(nats_url: str, database_url: str, media_dir: Path, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        **common_env(nats_url, database_url),
        "auth_jwt_secret": TEST_JWT_SECRET,
        "media_dir": str(media_dir),
        # Generous: usage answers a reservation in milliseconds, but on a loaded 2-core machine running the
        # suite on two workers a 2 s wait turned accepted requests into 503s (the outage tests set their own).
        "rpc_timeout_seconds": 10.0,
    }
    return GatewaySettings(**{**values, **overrides})


@pytest.fixture
def make_gateway_settings(nats_url: str, database_url: str, media_dir: Path) -> Callable[..., GatewaySettings]:
    return lambda **overrides: gateway_settings(nats_url, database_url, media_dir, **overrides)


@pytest.fixture
async def usage_service(nats_url: str, database_url: str) -> AsyncIterator[None]:
    async with running(create_usage(UsageSettings(**common_env(nats_url, database_url)))):
        yield


@pytest.fixture
async def api(usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]) -> AsyncIterator[Api]:
    settings = make_gateway_settings()
    async with (
        serving(create_gateway(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
    ):
        yield Api(base_url, client, settings)

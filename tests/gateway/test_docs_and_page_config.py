"""What the gateway serves beside the API: the documentation pages only where DOCS_ENABLED says so, the
page's configuration (which host apps may sign a user in), and dev sign-in tokens that pass AUTH_ISSUER."""

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..support.services import serving

pytestmark = pytest.mark.integration

STRONG = "s" * 48
HOST_APP = "https://app.example.com"


def production(**values: object) -> GatewaySettings:
    strong = {"auth_jwt_secret": STRONG, "media_signing_key": STRONG, "callback_signing_key": STRONG}
    return GatewaySettings(_env_file=None, **{**strong, **values})  # type: ignore[arg-type]


@pytest.fixture
def client_for(
    usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    @contextlib.asynccontextmanager
    async def client(**overrides: object) -> AsyncIterator[httpx.AsyncClient]:
        async with (
            serving(create_gateway(make_gateway_settings(**overrides))) as base_url,
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
        ):
            yield http

    return client


def test_docs_are_on_in_development_and_off_in_production_unless_docs_enabled_says_otherwise() -> None:
    assert production().docs_served is False
    assert production(docs_enabled=True).docs_served is True
    assert production(environment="development").docs_served is True
    assert production(environment="development", docs_enabled=False).docs_served is False


async def test_with_docs_enabled_the_documentation_pages_are_served(client_for: Callable[..., Any]) -> None:
    async with client_for(docs_enabled=True) as http:
        for path in ("/docs", "/redoc"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert "text/html" in response.headers["content-type"]
        assert (await http.get("/openapi.json")).json()["info"]["title"] == "AI Studio API"


async def test_with_docs_disabled_the_documentation_pages_are_not_found_but_the_schema_is_served(
    client_for: Callable[..., Any],
) -> None:
    async with client_for(docs_enabled=False) as http:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.json() == {"error": "Not found"}
        # Plain JSON that runs nothing: clients, the fuzzing and other teams read it.
        assert (await http.get("/openapi.json")).status_code == 200


async def test_the_page_learns_the_host_apps_and_only_they_may_frame_it(client_for: Callable[..., Any]) -> None:
    async with client_for(embed_host_origins=f"{HOST_APP}/, http://localhost:3000") as http:
        config = await http.get("/static/config.json")
        assert config.json() == {"embedHostOrigins": [HOST_APP, "http://localhost:3000"]}
        policy = (await http.get("/")).headers["content-security-policy"]
        assert f"frame-ancestors 'self' {HOST_APP} http://localhost:3000" in policy


async def test_without_host_apps_the_page_takes_no_sign_in_link_and_is_framed_only_by_itself(
    client_for: Callable[..., Any],
) -> None:
    async with client_for() as http:
        assert (await http.get("/static/config.json")).json() == {"embedHostOrigins": []}
        assert (await http.get("/")).headers["content-security-policy"].endswith("frame-ancestors 'self'")


@pytest.mark.parametrize(
    "origins", ["https://app.example.com/path", "app.example.com", "https://a.example.com; script-src *", "*"]
)
def test_a_host_origin_that_is_not_an_origin_refuses_start_up(origins: str) -> None:
    with pytest.raises(ValidationError, match="EMBED_HOST_ORIGINS"):
        production(embed_host_origins=origins)


async def test_a_dev_sign_in_token_carries_the_configured_issuer(client_for: Callable[..., Any]) -> None:
    issuer = "https://auth.example.com/auth/v1"
    async with client_for(dev_auth_enabled=True, auth_issuer=issuer) as http:
        minted = await http.post("/api/dev/token", json={"user_id": "jo"})
        assert minted.status_code == 200, minted.text
        usage = await http.get("/api/usage", headers={"Authorization": f"Bearer {minted.json()['token']}"})
        assert usage.status_code == 200, usage.text

"""Authentication edge cases, and what the gateway answers when a dependency is away."""

import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from aistudio_devstack import free_port
from gateway.app import create_app
from gateway.settings import GatewaySettings
from usage.app import create_app as create_usage
from usage.settings import UsageSettings

from ..support.services import TEST_JWT_SECRET, common_env, running, serving
from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}


def _token(claims: dict[str, object], key: object = TEST_JWT_SECRET, algorithm: str = "HS256", **headers: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claims", "key"),
    [
        ({"sub": "alice", "exp": int(time.time()) - 120}, TEST_JWT_SECRET),  # past the 30 s leeway
        ({"sub": "alice", "exp": int(time.time()) + 60}, "a-different-secret-of-enough-length-0123"),
        ({"sub": "alice"}, TEST_JWT_SECRET),
        ({"exp": int(time.time()) + 60}, TEST_JWT_SECRET),
    ],
    ids=["expired", "wrongly-signed", "no-expiry", "no-subject"],
)
async def test_bad_tokens_get_a_401(api: Api, claims: dict[str, object], key: str) -> None:
    response = await api.client.get("/api/ai/media", headers={"Authorization": f"Bearer {_token(claims, key)}"})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_an_unsigned_alg_none_token_gets_a_401(api: Api) -> None:
    token = jwt.encode({"sub": "admin", "role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none")
    response = await api.client.get("/api/usage", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


class _Jwks:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        keys = []
        for kid, private, alg in (("rsa-1", self.rsa, "RS256"), ("ec-1", self.ec, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        self.body = json.dumps({"keys": keys}).encode()


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[tuple[str, _Jwks]]:
    jwks = _Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(jwks.body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", jwks
    server.shutdown()


@pytest.fixture
async def jwks_api(
    usage_service: None, make_gateway_settings: Callable[..., GatewaySettings], jwks_url: tuple[str, _Jwks]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_gateway_settings(auth_jwks_url=jwks_url[0], auth_audience="authenticated")
    async with serving(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


@pytest.mark.parametrize(("kid", "algorithm"), [("rsa-1", "RS256"), ("ec-1", "ES256")])
async def test_asymmetric_tokens_from_the_jwks_are_accepted(
    jwks_api: httpx.AsyncClient, jwks_url: tuple[str, _Jwks], kid: str, algorithm: str
) -> None:
    key = jwks_url[1].rsa if algorithm == "RS256" else jwks_url[1].ec
    claims = {"sub": "dana", "aud": "authenticated", "exp": int(time.time()) + 60}
    response = await jwks_api.get(
        "/api/usage", headers={"Authorization": f"Bearer {_token(claims, key, algorithm, kid=kid)}"}
    )
    assert response.status_code == 200, response.text
    wrong_audience = _token({**claims, "aud": "someone-else"}, key, algorithm, kid=kid)
    response = await jwks_api.get("/api/usage", headers={"Authorization": f"Bearer {wrong_audience}"})
    assert response.status_code == 401


@pytest.fixture
async def api_without_usage(
    nats_url: str, database_url: str, make_gateway_settings: Callable[..., GatewaySettings]
) -> AsyncIterator[Api]:
    """A gateway whose usage service started once (so its quota rule is stored) and is down now."""
    async with running(create_usage(UsageSettings(**common_env(nats_url, database_url)))):
        pass
    settings = make_gateway_settings(rpc_timeout_seconds=1.0)
    async with serving(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield Api(base_url, client, settings)


async def test_with_the_usage_service_down_a_request_is_still_accepted_and_its_unit_taken(
    api_without_usage: Api, database_url: str
) -> None:
    # The unit is taken in the accept transaction (usage's own function), not asked of the service.
    response = await api_without_usage.client.post(
        "/api/ai/generate-media", json=VALID, headers=api_without_usage.auth("erin")
    )
    assert response.status_code == 202, response.text
    asset_id = response.json()["id"]
    conn = await asyncpg.connect(database_url)
    try:
        reservation = await conn.fetchrow(
            "SELECT user_id, state FROM usage.reservations WHERE request_id = $1", asset_id
        )
        assert dict(reservation or {}) == {"user_id": "erin", "state": "reserved"}
        assert await conn.fetchval("SELECT reserved FROM usage.monthly_usage WHERE user_id = 'erin'") == 1
        assert await conn.fetchval(
            "SELECT count(*) FROM gateway.outbox WHERE convert_from(payload, 'UTF8') LIKE $1", f"%{asset_id}%"
        )
    finally:
        await conn.close()
    # The meter is the usage service's answer: it is down.
    assert (await api_without_usage.client.get("/api/usage", headers=api_without_usage.auth("erin"))).status_code == 503


async def test_before_the_usage_service_ever_started_nothing_is_accepted_unmetered(
    api_without_usage: Api, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rule = await conn.fetchval("DELETE FROM usage.quota_rules RETURNING free_monthly_limit")
        try:
            response = await api_without_usage.client.post(
                "/api/ai/generate-media", json=VALID, headers=api_without_usage.auth("gwen")
            )
            assert response.status_code == 503
            assert response.json()["error"] == "Service temporarily unavailable"
            assert await conn.fetchval("SELECT count(*) FROM gateway.media_assets WHERE user_id = 'gwen'") == 0
            assert await conn.fetchval("SELECT count(*) FROM usage.reservations WHERE user_id = 'gwen'") == 0
            assert await conn.fetchval("SELECT count(*) FROM usage.monthly_usage WHERE user_id = 'gwen'") == 0
        finally:
            await conn.execute("INSERT INTO usage.quota_rules (free_monthly_limit) VALUES ($1)", rule)
    finally:
        await conn.close()


async def test_a_gateway_up_before_usage_migrated_answers_503_not_500(
    api_without_usage: Api, database_url: str
) -> None:
    # A fresh system coming up: the gateway's schema is there, usage's function not yet.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "ALTER FUNCTION usage.reserve_units(uuid[], text, timestamptz) RENAME TO reserve_units_later"
        )
        try:
            for body in (VALID, {**VALID, "variants": 2}):
                response = await api_without_usage.client.post(
                    "/api/ai/generate-media", json=body, headers=api_without_usage.auth("hana")
                )
                assert response.status_code == 503, response.text
            assert await conn.fetchval("SELECT count(*) FROM gateway.media_assets WHERE user_id = 'hana'") == 0
        finally:
            await conn.execute(
                "ALTER FUNCTION usage.reserve_units_later(uuid[], text, timestamptz) RENAME TO reserve_units"
            )
    finally:
        await conn.close()


async def test_with_postgres_unreachable_the_gateway_answers_503_quickly(
    usage_service: None, make_gateway_settings: Callable[..., GatewaySettings], database_url: str
) -> None:
    # The product's own wait for usage (which cannot reach Postgres either), not the suite's generous one.
    settings = make_gateway_settings(rpc_timeout_seconds=GatewaySettings.model_fields["rpc_timeout_seconds"].default)
    async with serving(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        app_pool = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
        try:
            # Cut every gateway connection and refuse new ones for this database.
            name = database_url.rsplit("/", 1)[1]
            await app_pool.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await app_pool.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            headers = {"Authorization": f"Bearer {_token({'sub': 'fay', 'exp': int(time.time()) + 60})}"}
            gallery = await client.get("/api/ai/media", headers=headers)
            assert gallery.status_code == 503, gallery.text
            assert (await client.get("/readyz")).status_code == 503  # answered: the client gives up after 10 s
        finally:
            await app_pool.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await app_pool.close()

"""JWKS keys: cached with expiry, unknown `kid`s refetched once at a time and at most once a minute."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aistudio_devstack import free_port
from gateway.auth import Authenticator, Unauthorized
from gateway.settings import GatewaySettings

ISSUER = "https://ref.supabase.co/auth/v1"


@dataclass
class JwksServer:
    """A JWKS endpoint whose keys a test changes, counting the fetches it answers."""

    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def body(self) -> bytes:
        jwks = []
        for kid, private in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            jwks.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return json.dumps({"keys": jwks}).encode()

    def token(self, kid: str, private: Any = None, **claims: object) -> str:
        body = {"sub": "alice", "exp": int(time.time()) + 300, "iss": ISSUER, **claims}
        return jwt.encode(body, private or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    state = JwksServer()
    state.add_key("key-1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.fetches += 1
            time.sleep(0.05)  # so that concurrent verifications really overlap one fetch
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(state.body())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/auth/v1/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _authenticator(jwks: JwksServer, clock: Clock, **settings: object) -> Authenticator:
    values: dict[str, object] = {"environment": "development", "auth_jwks_url": jwks.url, "auth_issuer": ISSUER}
    return Authenticator(GatewaySettings(_env_file=None, **{**values, **settings}), clock=clock)  # type: ignore[arg-type]


async def _accepted(auth: Authenticator, token: str) -> bool:
    try:
        await auth.authenticate(f"Bearer {token}")
    except Unauthorized:
        return False
    return True


async def test_many_tokens_at_once_cost_one_jwks_fetch(jwks: JwksServer) -> None:
    auth = _authenticator(jwks, Clock())
    results = await asyncio.gather(*(_accepted(auth, jwks.token("key-1")) for _ in range(20)))
    assert all(results)
    assert jwks.fetches == 1


async def test_unknown_kids_refetch_once_in_flight_and_at_most_once_a_minute(jwks: JwksServer) -> None:
    clock = Clock()
    auth = _authenticator(jwks, clock)
    assert await _accepted(auth, jwks.token("key-1"))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [jwks.token(f"unknown-{i}", private=stranger) for i in range(10)]
    clock.now += 61
    assert not any(await asyncio.gather(*(_accepted(auth, token) for token in forged)))
    assert jwks.fetches == 2  # one refetch for all ten, in flight together
    clock.now += 30
    assert not any(await asyncio.gather(*(_accepted(auth, token) for token in forged)))
    assert jwks.fetches == 2  # within the minute: no fetch at all


async def test_a_new_key_in_the_jwks_is_found_by_the_refetch(jwks: JwksServer) -> None:
    clock = Clock()
    auth = _authenticator(jwks, clock)
    assert await _accepted(auth, jwks.token("key-1"))
    jwks.add_key("key-2")
    clock.now += 61
    assert await _accepted(auth, jwks.token("key-2"))
    assert jwks.fetches == 2


async def test_a_key_removed_from_the_jwks_stops_working_when_the_cache_expires(jwks: JwksServer) -> None:
    clock = Clock()
    auth = _authenticator(jwks, clock, auth_jwks_cache_seconds=600)
    token = jwks.token("key-1")
    assert await _accepted(auth, token)
    jwks.add_key("key-2")
    del jwks.keys["key-1"]
    clock.now += 300
    assert await _accepted(auth, token)  # still cached
    clock.now += 301
    assert not await _accepted(auth, token)
    assert await _accepted(auth, jwks.token("key-2"))
    assert jwks.fetches == 2


async def test_a_token_from_another_issuer_is_refused(jwks: JwksServer) -> None:
    auth = _authenticator(jwks, Clock())
    assert await _accepted(auth, jwks.token("key-1"))
    assert not await _accepted(auth, jwks.token("key-1", iss="https://other.supabase.co/auth/v1"))


async def test_a_token_without_an_issuer_is_refused_when_one_is_configured(jwks: JwksServer) -> None:
    auth = _authenticator(jwks, Clock())
    token = jwt.encode(
        {"sub": "alice", "exp": int(time.time()) + 300},
        jwks.keys["key-1"],
        algorithm="RS256",
        headers={"kid": "key-1"},
    )
    assert not await _accepted(auth, token)


async def test_the_issuer_follows_from_the_supabase_project_url(jwks: JwksServer) -> None:
    auth = _authenticator(jwks, Clock(), auth_issuer=None, supabase_url="https://ref.supabase.co")
    assert await _accepted(auth, jwks.token("key-1"))
    assert not await _accepted(auth, jwks.token("key-1", iss="https://evil.test/auth/v1"))


async def test_a_token_expired_within_the_leeway_is_accepted_and_beyond_it_refused(jwks: JwksServer) -> None:
    auth = _authenticator(jwks, Clock(), auth_leeway_seconds=30)
    assert await _accepted(auth, jwks.token("key-1", exp=int(time.time()) - 5))
    assert not await _accepted(auth, jwks.token("key-1", exp=int(time.time()) - 120))


async def test_an_unreachable_jwks_keeps_the_keys_already_known(jwks: JwksServer) -> None:
    clock = Clock()
    auth = _authenticator(jwks, clock, auth_jwks_cache_seconds=60)
    token = jwks.token("key-1")
    assert await _accepted(auth, token)
    jwks.body = lambda: b"not json"  # type: ignore[method-assign]  # the issuer is broken from here on
    clock.now += 61
    assert await _accepted(auth, token)
    fetches = jwks.fetches
    assert await _accepted(auth, token)
    assert jwks.fetches == fetches  # not one fetch per request while it is broken

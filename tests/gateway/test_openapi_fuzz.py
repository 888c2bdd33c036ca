"""No input, however odd, gets a 5xx: schemathesis drives every operation of the OpenAPI document
(bodies, query, path and header parameters, valid and invalid), the event stream is driven by its own
generated requests, and JSON nested too deep or too large is refused with a 4xx on every route that
takes a body."""

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistudio_providers import callback_token
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..support.services import serving
from .conftest import Api

pytestmark = pytest.mark.integration

EVENTS_PATH = "/api/ai/media/events"
CALLBACK_PATH = "/api/providers/kie/callback/{asset_id}/{token}"
# Routes whose body the gateway reads itself (raw JSON from a provider): the document says nothing of it.
RAW_BODY_PATHS = (CALLBACK_PATH, "/api/providers/late/webhook")
# Per operation: with about 25 operations and the coverage phase's own cases, the run stays near two
# minutes on a loaded 2-core machine.
EXAMPLES_PER_OPERATION = 25
STREAM_EXAMPLES = 40
POSTING_PATHS = r"^/api/(social/|posts|ai/media/\{media_id\}/posts)"


@pytest.fixture
async def fuzzed(usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]) -> AsyncIterator[Api]:
    # Rate limits far out of reach: a 429 is no failure, but it would hide what the routes behind do.
    settings = make_gateway_settings(
        rate_limit_per_minute=1_000_000,
        rate_limit_generate_per_minute=1_000_000,
        rate_limit_caption_per_minute=1_000_000,
        max_streams_per_user=1_000,
    )
    async with (
        serving(create_gateway(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        yield Api(base_url, client, settings)


def callback_of(api: Api, asset_id: UUID) -> str:
    token = callback_token(api.settings.callback_signing_key.get_secret_value(), asset_id)
    return f"/api/providers/kie/callback/{asset_id}/{token}"


def widened(document: dict[str, Any], api: Api) -> dict[str, Any]:
    """The OpenAPI document, plus what it cannot say: the raw-body routes take any JSON, and the callback
    is also tried with a token that passes (so that its body is read, not just refused as unknown)."""
    for path in RAW_BODY_PATHS:
        if path not in document["paths"]:
            continue
        operation = document["paths"][path]["post"]
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {}}}}
    asset_id = uuid4()
    token = callback_token(api.settings.callback_signing_key.get_secret_value(), asset_id)
    for parameter in document["paths"][CALLBACK_PATH]["post"]["parameters"]:
        if parameter["in"] == "path":
            known = str(asset_id) if parameter["name"] == "asset_id" else token
            parameter["schema"] = {"type": "string", "enum": [known]}  # negative mode still tries others
    return document


async def test_no_generated_request_gets_a_server_error(fuzzed: Api, tmp_path: Path) -> None:
    document = widened((await fuzzed.client.get("/openapi.json")).json(), fuzzed)
    schema_path = tmp_path / "openapi.json"
    schema_path.write_text(json.dumps(document))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(schema_path),
        "--url",
        fuzzed.base_url,
        "--checks",
        "not_a_server_error",
        "--mode",
        "all",  # invalid values too: wrong types, missing required headers and fields
        "--header",
        f"Authorization: Bearer {fuzzed.token('fuzzer')}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "20261122",
        # One worker thread: CPython 3.11.7's AST constructor keeps its recursion depth per interpreter,
        # and two threads parsing at once (Hypothesis describing its filters) can fail with "AST
        # constructor recursion depth mismatch" (cpython gh-106905, fixed in 3.11.8), an error of the
        # fuzzer, not of the API.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        # A stream that opens never ends: test_the_event_stream_answers_every_generated_request_without_a_5xx.
        "--exclude-path",
        EVENTS_PATH,
        # Posting answers 503 by design while the publisher is away, and it is not part of this run;
        # its routes are fuzzed with the publisher running, by its own tests.
        "--exclude-path-regex",
        POSTING_PATHS,
        "--report-dir",
        str(tmp_path),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    print(text[-1500:])


def _stream_cases(api: Api, document: dict[str, Any]) -> Any:
    operation = schemathesis.openapi.from_dict(document)[EVENTS_PATH]["GET"]
    cases = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )
    authorizations = st.sampled_from(
        [f"Bearer {api.token('streamer')}", None, "Bearer not-a-jwt", "Basic Zm9vOmJhcg==", "Bearer ", "bearer x.y.z"]
    )
    return st.tuples(cases, authorizations)


async def test_the_event_stream_answers_every_generated_request_without_a_5xx(fuzzed: Api) -> None:
    """Query (ticket) and headers (Last-Event-ID, Authorization), generated valid and invalid. A stream
    that opens is closed at once: only the answer's status is judged."""
    document = (await fuzzed.client.get("/openapi.json")).json()
    statuses: list[int] = []

    @settings(
        max_examples=STREAM_EXAMPLES,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(_stream_cases(fuzzed, document))
    def request_the_stream(generated: tuple[Any, str | None]) -> None:
        case, authorization = generated
        kwargs = case.as_transport_kwargs(base_url=fuzzed.base_url)
        headers = {name: value for name, value in kwargs["headers"].items() if name.lower() != "authorization"}
        if authorization is not None:
            headers["Authorization"] = authorization
        # What HTTP itself cannot carry (a newline in a header, a non-Latin-1 value) no client can send.
        try:
            request = httpx.Request("GET", kwargs["url"], params=kwargs["params"], headers=headers)
            with httpx.Client(timeout=60) as client:
                response = client.send(request, stream=True)
                response.close()
        except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError):
            return
        statuses.append(response.status_code)
        assert response.status_code < 500, (request.url, headers, response.status_code)

    await asyncio.to_thread(request_the_stream)
    assert 200 in statuses and 401 in statuses  # both opened streams and refusals were reached


def nested(depth: int, *, arrays: bool) -> str:
    opening, closing = ("[", "]") if arrays else ('{"":', "}")
    return opening * depth + "1" + closing * depth


@pytest.mark.parametrize("arrays", [True, False], ids=["arrays", "objects"])
@pytest.mark.parametrize("depth", [900, 5_000, 12_000])  # all within MAX_REQUEST_BYTES
async def test_json_nested_deep_is_a_400_on_the_generate_route(fuzzed: Api, depth: int, arrays: bool) -> None:
    body = '{"prompt": ' + nested(depth, arrays=arrays) + "}"
    response = await fuzzed.client.post(
        "/api/ai/generate-media",
        content=body,
        headers={**fuzzed.auth("nester"), "content-type": "application/json", "Idempotency-Key": str(uuid4())},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Invalid input"


@pytest.mark.parametrize("arrays", [True, False], ids=["arrays", "objects"])
@pytest.mark.parametrize("depth", [900, 5_000, 12_000])  # all within MAX_REQUEST_BYTES
async def test_json_nested_deep_is_a_4xx_on_the_kie_callback(fuzzed: Api, depth: int, arrays: bool) -> None:
    # With a token that passes, so that the body is read; the asset does not exist (404) unless the body
    # is refused first (400). Either way: not a 500.
    response = await fuzzed.client.post(
        callback_of(fuzzed, uuid4()), content=nested(depth, arrays=arrays), headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 404), response.text


async def test_json_nested_deep_inside_a_callback_the_provider_could_send_is_a_4xx(fuzzed: Api) -> None:
    body = '{"code": 200, "data": {"taskId": "t-1", "info": ' + nested(12_000, arrays=False) + "}}"
    response = await fuzzed.client.post(
        callback_of(fuzzed, uuid4()), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 404), response.text


def routes_with_a_body(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation that reads a body, its path parameters filled in."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation or path in RAW_BODY_PATHS:
                found.append((method.upper(), re.sub(r"\{[a-z_]+\}", lambda _: str(uuid4()), path)))
    return found


async def test_json_nested_deep_is_a_4xx_on_every_route_with_a_body(fuzzed: Api) -> None:
    routes = routes_with_a_body((await fuzzed.client.get("/openapi.json")).json())
    assert ("POST", "/api/dev/token") in routes and len(routes) >= 5
    for method, path in routes:
        response = await fuzzed.client.request(
            method,
            path,
            content=nested(20_000, arrays=True),
            headers={**fuzzed.auth("nester", "admin"), "content-type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)


async def test_a_body_over_the_size_limit_is_a_413_before_it_is_read(fuzzed: Api) -> None:
    too_large = '{"prompt": "' + "x" * (fuzzed.settings.max_request_bytes + 1) + '"}'
    for path in ("/api/ai/generate-media", callback_of(fuzzed, uuid4())):
        response = await fuzzed.client.post(
            path, content=too_large, headers={**fuzzed.auth("big"), "content-type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text)

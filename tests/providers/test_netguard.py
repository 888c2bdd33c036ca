"""URLs are fetched only from public addresses, checked at the socket after one lookup, on every redirect hop."""

import ipaddress
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import RedirectResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from aistudio_providers import ProviderSettings, download_media
from aistudio_providers.media import MediaUnavailableError, download_client
from aistudio_providers.netguard import (
    BlockedDestinationError,
    PublicOnlyTransport,
    check_destination,
    is_public_address,
)

from ..support.services import serving


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_a_url_resolving_to_loopback_is_refused_and_not_retried() -> None:
    async with download_client(ProviderSettings(), public_only=True) as client:
        with pytest.raises(MediaUnavailableError) as caught:
            await download_media(client, "http://localhost:9/a.png", max_bytes=1000)
    assert caught.value.retryable is False


async def test_a_redirect_to_an_internal_address_is_refused() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.host == "93.184.215.14":
            return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data"})
        return httpx.Response(200, content=b"secret", headers={"content-type": "image/png"})

    transport = PublicOnlyTransport(httpx.MockTransport(upstream))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(MediaUnavailableError):
            await download_media(client, "http://93.184.215.14/cat.png", max_bytes=1000)


# --- at the socket: resolve once, check every address, connect to the checked one -------------------

PUBLIC = "93.184.215.14"


class Answers:
    """A resolver that answers from a script, one answer per call, and counts the calls."""

    def __init__(self, *answers: list[str]) -> None:
        self._answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self._answers[min(len(self.calls), len(self._answers)) - 1]


class ToLocalServer(httpcore.AsyncNetworkBackend):
    """Stands in for the internet: a connection to the public test address reaches our local server.
    Records every (address, port) it was asked to connect to."""

    def __init__(self, local_port: int) -> None:
        self._real = httpcore.AnyIOBackend()
        self._local_port = local_port
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        assert host == PUBLIC, f"connected to an unchecked address {host}"
        return await self._real.connect_tcp("127.0.0.1", self._local_port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def origin_app() -> Starlette:
    async def image(request: StarletteRequest) -> StarletteResponse:
        return StarletteResponse(PNG, media_type="image/png", headers={"x-seen-host": request.headers["host"]})

    async def to_private(_: StarletteRequest) -> StarletteResponse:
        return RedirectResponse("http://internal.example:8080/secret", status_code=302)

    async def to_odd_port(_: StarletteRequest) -> StarletteResponse:
        return RedirectResponse("http://cdn.example:6379/", status_code=302)

    return Starlette(
        routes=[Route("/a.png", image), Route("/to-private", to_private), Route("/to-odd-port", to_odd_port)]
    )


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def internet() -> AsyncIterator[ToLocalServer]:
    async with serving(origin_app()) as base_url:
        yield ToLocalServer(int(base_url.rsplit(":", 1)[1]))


def guarded(resolver: Answers, network: ToLocalServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PublicOnlyTransport(resolver=resolver, network=network), trust_env=False)


async def test_a_name_rebinding_to_a_private_address_is_connected_to_the_address_checked(
    internet: ToLocalServer,
) -> None:
    resolver = Answers([PUBLIC], ["127.0.0.1"])  # a second lookup would be told loopback

    async with guarded(resolver, internet) as client:
        media = await download_media(client, "http://cdn.example:8080/a.png", max_bytes=1000)

    assert media.content_type == "image/png"
    assert resolver.calls == ["cdn.example"]
    assert internet.connects == [(PUBLIC, 8080)]


async def test_the_host_header_keeps_the_name_when_the_connection_goes_to_its_address(
    internet: ToLocalServer,
) -> None:
    async with guarded(Answers([PUBLIC]), internet) as client:
        response = await client.get("http://cdn.example:8080/a.png")

    assert response.headers["x-seen-host"] == "cdn.example:8080"


async def test_a_name_answering_a_public_and_a_private_address_is_refused_before_any_connection(
    internet: ToLocalServer,
) -> None:
    async with guarded(Answers([PUBLIC, "10.0.0.7"]), internet) as client:
        with pytest.raises(MediaUnavailableError) as caught:
            await download_media(client, "http://cdn.example:8080/a.png", max_bytes=1000)

    assert caught.value.retryable is False
    assert internet.connects == []


async def test_a_redirect_to_a_private_address_is_refused_at_connect(internet: ToLocalServer) -> None:
    resolver = Answers([PUBLIC], ["10.1.2.3"])  # cdn.example, then internal.example

    async with guarded(resolver, internet) as client:
        with pytest.raises(MediaUnavailableError):
            await download_media(client, "http://cdn.example:8080/to-private", max_bytes=1000)

    assert resolver.calls == ["cdn.example", "internal.example"]
    assert internet.connects == [(PUBLIC, 8080)]


async def test_a_redirect_to_an_odd_port_is_refused_at_connect(internet: ToLocalServer) -> None:
    async with guarded(Answers([PUBLIC]), internet) as client:
        with pytest.raises(MediaUnavailableError):
            await download_media(client, "http://cdn.example:8080/to-odd-port", max_bytes=1000)

    assert internet.connects == [(PUBLIC, 8080)]


@pytest.mark.parametrize("address", ["2002:7f00:1::1", "fec0::1", "64:ff9b::a00:1"])
def test_tunnel_and_site_local_ipv6_ranges_are_not_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("host", ["１２７.０.０.１", "127．0．0．1", "٣.example.com", "ｅｘａｍｐｌｅ.com"])
def test_a_host_spelled_with_non_ascii_digits_or_look_alikes_is_refused(host: str) -> None:
    with pytest.raises(BlockedDestinationError):
        check_destination(host, 443)


async def test_a_fullwidth_digit_url_is_refused_without_a_lookup() -> None:
    resolver = Answers([PUBLIC])
    async with httpx.AsyncClient(transport=PublicOnlyTransport(resolver=resolver)) as client:
        with pytest.raises(MediaUnavailableError) as caught:
            await download_media(client, "http://１２７.０.０.１/a.png", max_bytes=1000)
    assert caught.value.retryable is False
    assert resolver.calls == []


async def test_provider_results_from_a_configured_endpoint_are_fetched_even_on_loopback(
    internet: ToLocalServer,
) -> None:
    local = f"http://127.0.0.1:{internet._local_port}"
    settings = ProviderSettings(_env_file=None, kie_base_url=local)

    async with download_client(settings) as client:
        media = await download_media(client, f"{local}/a.png", max_bytes=1000)
        with pytest.raises(MediaUnavailableError):  # a user's URL gets no such exemption
            async with download_client(settings, public_only=True) as user_client:
                await download_media(user_client, f"{local}/a.png", max_bytes=1000)

    assert media.content_type == "image/png"

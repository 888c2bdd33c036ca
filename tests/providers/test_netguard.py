"""User-supplied URLs are fetched only from public addresses, checked after DNS and on redirects."""

import ipaddress

import httpx
import pytest

from aistudio_providers import ProviderSettings, download_media
from aistudio_providers.media import MediaUnavailableError, download_client
from aistudio_providers.netguard import PublicOnlyTransport, is_public_address


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

"""Fetching user-supplied URLs without reaching our own network (server-side request forgery).

The gateway refuses private addresses when a URL is submitted; this guard checks again at fetch
time, after DNS, on every redirect hop, because a public name can resolve (or redirect) to an
internal address later.
"""

import asyncio
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class BlockedDestinationError(httpx.TransportError):
    """The URL leads to a loopback, private, link-local or otherwise internal address."""


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _SHARED_ADDRESS_SPACE  # carrier-grade NAT; cloud metadata on some hosts
    )


async def resolve_public(host: str, port: int) -> None:
    """Raise BlockedDestinationError unless every address `host` resolves to is public."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public_address(address):
            raise BlockedDestinationError(f"{host} resolves to a non-public address")


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """An httpx transport that refuses requests whose host is not on the public internet."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        await resolve_public(request.url.host, port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

"""Fetching URLs without reaching our own network (server-side request forgery).

The gateway refuses private addresses when a URL is submitted; this guard checks again where it
counts, at the socket. A check of one DNS answer followed by a connect that resolves again can be
beaten by rebinding (public on the first answer, private on the second), so the name is resolved
once, every address it gave is checked, and the connection goes to the checked address; TLS still
verifies the certificate for the name (SNI) and the Host header still carries it. Every redirect
hop opens its own connection and so passes the same check, the port rule included.
"""

import asyncio
import ipaddress
import socket
import ssl
import typing
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolves (host, port) to the addresses a connection may use, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# The ports a URL from outside may use, as at submission (gateway/domain/urls.py).
WEB_PORTS = frozenset({80, 443, 8080, 8443})
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; cloud metadata on some hosts
# IPv6 ranges the standard library does not count as private but that reach somewhere we must not go:
# 6to4 (2002::/16) tunnels to any IPv4 address, fec0::/10 is the deprecated site-local range.
_BLOCKED_V6 = (ipaddress.ip_network("2002::/16"), ipaddress.ip_network("fec0::/10"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedDestinationError(httpx.TransportError):
    """The URL leads to a loopback, private, link-local or otherwise internal address, or an odd port."""


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:  # the IPv4 address a NAT64 gateway would reach decides
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif any(ip in network for network in _BLOCKED_V6):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _SHARED_ADDRESS_SPACE
    )


def is_deceptive_host(host: str) -> bool:
    """True for a host spelled with non-ASCII look-alikes of ASCII (fullwidth digits and dots such as
    `１２７．０．０．１`): resolvers and libraries disagree on what they mean, so none is fetched."""
    for char in host:
        if char.isascii():
            continue
        if char.isdigit() or char.isnumeric() or unicodedata.normalize("NFKC", char).isascii():
            return True
    return False


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}") from exc
    return [str(info[4][0]) for info in infos]


def check_destination(host: str, port: int, *, ports: Iterable[int] | None = WEB_PORTS) -> IPAddress | None:
    """Refuse what can be refused before DNS: a deceptive name, an odd port, a non-public IP literal.
    Returns the literal's address, or None for a name (checked once resolved)."""
    if not host or is_deceptive_host(host):
        raise BlockedDestinationError("the host name is not plain ASCII")
    if ports is not None and port not in ports:
        raise BlockedDestinationError(f"port {port} is not a standard web port")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if not is_public_address(literal):
        raise BlockedDestinationError(f"{host} is not a public address")
    return literal


async def resolve_public(
    host: str, port: int, *, resolver: Resolver = system_resolver, ports: Iterable[int] | None = WEB_PORTS
) -> list[str]:
    """The addresses to connect to for `host`, each of them public; raises BlockedDestinationError if
    any is not (a name that answers with one private address among public ones is refused whole)."""
    literal = check_destination(host, port, ports=ports)
    if literal is not None:
        return [str(literal)]
    addresses = await resolver(host, port)
    if not addresses:
        raise httpx.ConnectError(f"cannot resolve {host}")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as exc:
            raise BlockedDestinationError(f"{host} resolves to something that is not an address") from exc
        if not is_public_address(ip):
            raise BlockedDestinationError(f"{host} resolves to a non-public address")
    return addresses


class Origin(typing.NamedTuple):
    host: str
    port: int


def origin_of(url: str) -> Origin | None:
    """(host, port) of a configured endpoint, to exempt it: the operator chose it, not a user."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return Origin(parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80))


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to checked public addresses.

    httpcore asks it for a TCP connection to (host, port) and then starts TLS on that stream with
    the original host name, so the certificate check and SNI stay those of the name.
    """

    def __init__(
        self,
        inner: httpcore.AsyncNetworkBackend | None = None,
        *,
        resolver: Resolver = system_resolver,
        ports: Iterable[int] | None = WEB_PORTS,
        trusted: Iterable[Origin] = (),
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolver = resolver
        self._ports = frozenset(ports) if ports is not None else None
        self._trusted = frozenset(trusted)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if Origin(host.lower(), port) in self._trusted:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await resolve_public(host, port, resolver=self._resolver, ports=self._ports)
        failure: Exception | None = None
        for address in addresses:  # the checked addresses only, in the resolver's order
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestinationError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose every connection (redirect hops included) goes through
    PublicOnlyBackend. Proxies from the environment are ignored on purpose: a proxy would connect
    for us, past the check.

    `inner` replaces the network for tests (httpx.MockTransport): the request-level checks still run,
    and names are resolved and checked the same way, but nothing connects.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
        ports: Iterable[int] | None = WEB_PORTS,
        trusted: Iterable[Origin] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        self._ports = frozenset(ports) if ports is not None else None
        self._trusted = frozenset(trusted)
        self._resolver = resolver
        self._mock = inner
        # The pool httpx built, rebuilt with our network backend (httpx has no parameter for it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            network_backend=PublicOnlyBackend(network, resolver=resolver, ports=ports, trusted=trusted),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise BlockedDestinationError(f"scheme {request.url.scheme} is not fetched")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        if self._mock is None:
            return await super().handle_async_request(request)
        if Origin(request.url.host.lower(), port) not in self._trusted:
            await resolve_public(request.url.host, port, resolver=self._resolver, ports=self._ports)
        return await self._mock.handle_async_request(request)

    async def aclose(self) -> None:
        if self._mock is not None:
            await self._mock.aclose()
        await super().aclose()

"""The poller's HTTP stack for KIE's status calls: httpx's client API over aiohttp's connection pool.

A check is a small GET, hundreds a second at full tilt. Profiled under the benchmark, most of a
check's CPU went to httpcore's pool bookkeeping (every request and response walks every pooled
connection and asks the kernel whether each idle socket is readable) and to anyio and h11 under it;
measured on this machine, httpx over this transport costs about a quarter of httpx's own stack per
request. `KieClient` keeps its httpx API — timeouts, errors, `Response` — because this transport
gives httpx what httpcore would: the raw status, headers and body (compressed bodies are decoded
by httpx as before), and httpx's own exceptions for every network failure, so that a timeout is
still a `TimeoutException` and a refused connection still a `ConnectError` (never sent).
"""

import aiohttp
import httpx

from aistudio_providers.kie.client import KEEPALIVE_EXPIRY_SECONDS

# aiohttp adds these on its own unless told not to; httpx already set the ones the request needs.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`connections`: at most this many open at once (the poller's concurrent checks), all kept alive."""

    def __init__(self, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will run it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Idle connections are dropped before a server's own keep-alive limit closes them
                # under a request (the same rule as KieClient's).
                connector=aiohttp.TCPConnector(
                    limit=self._connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS
                ),
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO_HEADERS,
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),  # waiting for a free connection, as httpx's pool timeout
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        try:
            async with self._open().request(
                request.method,
                str(request.url),
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw],
                data=body or None,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                content = await response.read()
                return httpx.Response(
                    response.status, headers=list(response.raw_headers), content=content, request=request
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(str(exc) or "server disconnected", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

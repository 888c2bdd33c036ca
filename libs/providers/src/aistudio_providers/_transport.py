"""Recognising network failures whichever HTTP stack raised them.

The google-genai and openai SDKs ride on `httpx2`, a fork of httpx under another import name,
so its exceptions are not httpx's; google-genai rides on aiohttp instead whenever aiohttp is
installed (aiobotocore brings it). We match every family by its class names.
"""

import asyncio

import httpx

# Requests that never reached the server: nothing can have been started or billed.
_NEVER_SENT = frozenset(
    {"ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol", "ProxyError", "ClientConnectorError"}
)
# aiohttp's connection failures (a connection that broke after sending is among them).
_AIOHTTP_TRANSPORT = frozenset({"ClientConnectionError", "ServerTimeoutError"})


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_transport_error(exc: BaseException) -> bool:
    names = _names(exc)
    return (
        isinstance(exc, httpx.TransportError | ConnectionError | asyncio.TimeoutError)
        or "TransportError" in names
        or bool(_AIOHTTP_TRANSPORT & names)
    )


def never_sent(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError) or bool(_NEVER_SENT & _names(exc))


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.TimeoutError) or "TimeoutException" in _names(exc)

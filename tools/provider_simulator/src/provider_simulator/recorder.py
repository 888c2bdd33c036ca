"""Records every provider call (not admin calls) with its body, for GET /_admin/requests.

A plain ASGI middleware: it sees the body as it streams in and the status as it goes out,
without buffering anything for the route.
"""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import RequestRecord, SimulatorState

_MAX_BODY_BYTES = 1_000_000


def api_of(path: str) -> str | None:
    if path.startswith("/api/"):
        return "kie"
    if path.startswith("/v1/chat/"):
        return "openai"
    if path.startswith(("/v1/models/", "/v1beta/models/")):
        return "gemini"
    if path.startswith("/files/"):
        return "files"
    return None


class RequestRecorder:
    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = api_of(scope.get("path", "")) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        record = RequestRecord(
            api=api,
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        self.state.requests.append(record)

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(record.body) < _MAX_BODY_BYTES:
                record.body += message.get("body", b"")[: _MAX_BODY_BYTES - len(record.body)]
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        await self.app(scope, recording_receive, recording_send)


def shorten(value: Any, limit: int = 300) -> Any:
    """Long strings (base64 images) cut down so the log stays readable."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:60]}...({len(value)} chars)"
    if isinstance(value, list):
        return [shorten(item, limit) for item in value]
    if isinstance(value, dict):
        return {key: shorten(item, limit) for key, item in value.items()}
    return value

"""What every HTTP request leaves behind: a request id, a span, a metric and a log line, plus `/metrics`.

A pure ASGI middleware rather than FastAPI's `@app.middleware("http")`: that one buffers a streamed
response, and the live event stream must flow. The route label is the matched route's template
(`/api/ai/media/{asset_id}`), never the raw path, so ids and tokens neither explode the series
nor reach the metrics. The span continues a caller's W3C `traceparent`; a POST that starts a
generation starts its trace here, and the outbox carries it on.
"""

import re
import time
import uuid
from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import Response
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram

from aistudio_runtime import metrics, tracing
from aistudio_runtime.logging import get_logger

log = get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is reused only when it cannot smuggle anything into a log line or a header.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

HTTP_REQUESTS = Counter(
    "aistudio_http_requests_total",
    "HTTP requests answered by the gateway, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "aistudio_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

Scope = dict[str, Any]
Message = dict[str, Any]

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(await metrics.render(), media_type=metrics.CONTENT_TYPE)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1").strip()
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestObservability:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        method = str(scope.get("method", "?"))
        incoming = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])}
        token = otel_context.attach(tracing.extract(incoming))
        try:
            with (
                tracing.span(f"HTTP {method}", kind=SpanKind.SERVER, request_id=request_id) as span,
                structlog.contextvars.bound_contextvars(request_id=request_id),
            ):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    elapsed = time.perf_counter() - started
                    route = _route_template(scope)
                    span.update_name(f"HTTP {method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    HTTP_REQUESTS.labels(method, route, str(status)).inc()
                    HTTP_SECONDS.labels(method, route).observe(elapsed)
                    log.info(
                        "http_request",
                        method=method,
                        route=route,
                        status=status,
                        duration_ms=round(elapsed * 1000, 1),
                    )
        finally:
            otel_context.detach(token)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"

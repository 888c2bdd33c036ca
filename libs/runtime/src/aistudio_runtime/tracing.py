"""One trace per generation, across every service: W3C trace context in HTTP, NATS headers,
outbox rows and the job tables that hand work to background loops.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: the OpenTelemetry API's default provider makes
every span a no-op, the broker gets no telemetry middleware, and nothing is exported. With the
endpoint set, `configure_tracing` installs the SDK with a batching OTLP/HTTP exporter. A test
installs its own SDK provider (an in-memory exporter) before building the services; `enabled()`
sees it.

Work that waits in a table (an outbox row, a generator job, a poller task) keeps the
`traceparent` of the span that wrote it, and whoever picks it up continues that trace
(`continued`), so a generation that crosses a restart is still one trace.
"""

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
TRACER_NAME = "aistudio"


def configure_tracing(service: str, endpoint: str | None) -> None:
    """Export spans over OTLP/HTTP to `endpoint` (OTEL_EXPORTER_OTLP_ENDPOINT); without one, nothing."""
    if not endpoint or enabled():
        return
    # Imported here: without an endpoint the SDK is never even loaded.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)


def enabled() -> bool:
    """Whether a real tracer provider is installed (the API's default is a no-op proxy)."""
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def current_traceparent() -> str | None:
    """The active span as a `traceparent` header value, to store with work handed on; None if none."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def inject(headers: dict[str, Any]) -> None:
    _PROPAGATOR.inject(headers)


def extract(headers: Mapping[str, str]) -> otel_context.Context:
    return _PROPAGATOR.extract(dict(headers))


@contextlib.contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Make `traceparent` (stored with a row) the current context while its work runs."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def span(
    name: str, *, traceparent: str | None = None, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any
) -> Iterator[Span]:
    """A span (continuing `traceparent` when given) whose ids are bound to every log line inside it."""
    with continued(traceparent), tracer().start_as_current_span(name, kind=kind) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, str(value))
        yield current


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the active span's trace and span ids on every line logged inside it."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def bind_asset(asset_id: object) -> Any:
    """Bind `asset_id` to the log lines and the current span (a context manager)."""
    trace.get_current_span().set_attribute("aistudio.asset_id", str(asset_id))
    return structlog.contextvars.bound_contextvars(asset_id=str(asset_id))

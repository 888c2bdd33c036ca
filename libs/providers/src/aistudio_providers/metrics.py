"""What every paid or checking call to a provider did, for /metrics and as a span of the trace.

Counted once at each client's HTTP layer (KIE's one request method, the Gemini and OpenAI SDK
calls), so every call site is covered and none counts twice. The endpoint label is the path or
the SDK method, never a URL with ids in it: a label per task would grow without bound. The span
is a no-op unless the service turned tracing on (OpenTelemetry's API without an SDK).
"""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from .errors import ProviderError

PROVIDER_CALLS = Counter(
    "aistudio_provider_calls_total",
    "Calls to a provider by provider, endpoint and outcome (ok, rejected, or the error kind).",
    ["provider", "endpoint", "outcome"],
)
PROVIDER_CALL_SECONDS = Histogram(
    "aistudio_provider_call_duration_seconds",
    "How long a provider call took, answer or error.",
    ["provider", "endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
KIE_RATE_LIMITED = Counter(
    "aistudio_kie_rate_limited_total",
    "429 answers from KIE (HTTP or envelope). Our shared limiter should keep this at 0.",
)


@dataclass
class CallOutcome:
    """Set by the caller when an answer that raised nothing still was not a success."""

    value: str = "ok"


@asynccontextmanager
async def observed_call(provider: str, endpoint: str) -> AsyncIterator[CallOutcome]:
    outcome = CallOutcome()
    started = time.perf_counter()
    tracer = trace.get_tracer("aistudio.providers")
    with tracer.start_as_current_span(f"{provider} {endpoint}", kind=SpanKind.CLIENT) as span:
        span.set_attribute("aistudio.provider", provider)
        span.set_attribute("aistudio.provider.endpoint", endpoint)
        try:
            yield outcome
        except ProviderError as exc:
            outcome.value = exc.kind.value
            span.set_status(Status(StatusCode.ERROR, exc.kind.value))
            raise
        except Exception:
            outcome.value = "error"
            raise
        finally:
            span.set_attribute("aistudio.provider.outcome", outcome.value)
            PROVIDER_CALL_SECONDS.labels(provider, endpoint).observe(time.perf_counter() - started)
            PROVIDER_CALLS.labels(provider, endpoint, outcome.value).inc()

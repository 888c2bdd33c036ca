"""The catalog's view of generations, for /metrics: how each settled, and how long ready took.

Counted by the handlers after the catalog's move committed, so a redelivered event (which moves
nothing the second time) is never counted twice.
"""

from datetime import datetime

from prometheus_client import Counter, Histogram

from aistudio_contracts import AssetStatus

from .domain import lifecycle

GENERATIONS = Counter(
    "aistudio_generations_total",
    "Generations settled by the catalog, by provider, media type and outcome (ready, error, cancelled).",
    ["provider", "media_type", "outcome"],
)
TIME_TO_READY = Histogram(
    "aistudio_generation_time_to_ready_seconds",
    "From the request's acceptance to its media in our custody, for generations that became ready.",
    ["provider", "media_type"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400),
)


def settled(move: lifecycle.Move, provider: str, media_type: str, accepted_at: datetime, done_at: datetime) -> None:
    if move.charged is None:
        return
    GENERATIONS.labels(provider, media_type, move.to.value).inc()
    if move.to is AssetStatus.READY:
        TIME_TO_READY.labels(provider, media_type).observe(max((done_at - accepted_at).total_seconds(), 0.0))

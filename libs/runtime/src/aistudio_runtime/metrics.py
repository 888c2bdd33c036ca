"""The metrics every service shares, and the one way they are rendered for `/metrics`.

One process-wide registry (prometheus-client's default), so a service's own metrics, the
providers' and FastStream's message metrics all come out of one scrape. Counters are bumped where
things happen; what lives in Postgres or JetStream (outbox backlog, consumer pending) is read at
scrape time by the callbacks registered with `on_scrape`, so an idle service costs nothing and a
scrape always shows the present, not the last time something happened to change.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.nats import NatsBroker
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest

from .logging import get_logger

log = get_logger(__name__)

PREFIX = "aistudio"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# A scrape answers even when the database or NATS hangs: the refresh gets this long, then the last values show.
REFRESH_TIMEOUT_SECONDS = 2.0

DEAD_LETTERS = Counter(
    "aistudio_dead_letters_total",
    "Messages a consumer gave up on, kept in the dead-letter stream.",
    ["durable"],
)
REDELIVERIES = Counter(
    "aistudio_message_redeliveries_total",
    "Deliveries after the first, as handlers saw them.",
    ["subject"],
)
OUTBOX_BACKLOG = Gauge(
    "aistudio_outbox_backlog",
    "Outbox rows written and not yet published to JetStream.",
    ["schema"],
)
OUTBOX_LAG = Gauge(
    "aistudio_outbox_relay_lag_seconds",
    "Age of the oldest unpublished outbox row (0 when none waits).",
    ["schema"],
)
CONSUMER_PENDING = Gauge(
    "aistudio_consumer_pending_messages",
    "Messages in the stream the durable consumer has not been delivered yet.",
    ["stream", "durable"],
)
CONSUMER_ACK_PENDING = Gauge(
    "aistudio_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not acknowledged yet.",
    ["stream", "durable"],
)
CONSUMER_REDELIVERED = Gauge(
    "aistudio_consumer_redelivered_messages",
    "Messages the durable consumer has delivered more than once and not acknowledged yet.",
    ["stream", "durable"],
)

Refresh = Callable[[], Awaitable[None]]
_refreshers: list[Refresh] = []


def message_middleware(service: str) -> NatsPrometheusMiddleware:
    """FastStream's own message metrics (received, processed by status, duration, published), named
    `aistudio_*`; the handler label is the subject. Its metric objects are shared per registry."""
    return NatsPrometheusMiddleware(registry=REGISTRY, app_name=service, metrics_prefix=PREFIX)


def on_scrape(refresh: Refresh) -> Callable[[], None]:
    """Run `refresh` before every scrape; returns the function that stops it."""
    _refreshers.append(refresh)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _refreshers.remove(refresh)

    return remove


async def render() -> bytes:
    """The Prometheus text of this process, its scrape-time gauges freshly read."""
    if _refreshers:
        results = await asyncio.gather(
            *(asyncio.wait_for(refresh(), REFRESH_TIMEOUT_SECONDS) for refresh in list(_refreshers)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("metrics_refresh_failed", error=repr(result))
    return generate_latest(REGISTRY)


class RuntimeGauges:
    """A service's outbox and its durable consumers, read for each scrape."""

    def __init__(self, pool: asyncpg.Pool, schema: str, broker: NatsBroker) -> None:
        self._pool = pool
        self._schema = schema
        self._broker = broker

    async def refresh(self) -> None:
        await asyncio.gather(self._outbox(), self._consumers())

    async def _outbox(self) -> None:
        row = await self._pool.fetchrow(
            f"SELECT count(*) AS backlog, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag"
            f" FROM {self._schema}.outbox WHERE published_at IS NULL"
        )
        assert row is not None
        OUTBOX_BACKLOG.labels(self._schema).set(row["backlog"])
        OUTBOX_LAG.labels(self._schema).set(float(row["lag"]))

    async def _consumers(self) -> None:
        js = self._broker.connection.jetstream()
        for stream, durable in _durables(self._broker):
            try:
                info = await js.consumer_info(stream, durable)
            except NotFoundError:
                continue
            CONSUMER_PENDING.labels(stream, durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(stream, durable).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(stream, durable).set(info.num_redelivered or 0)


def _durables(broker: NatsBroker) -> list[tuple[str, str]]:
    found = []
    for subscriber in broker.subscribers:
        stream: Any = getattr(subscriber, "stream", None)
        config: Any = getattr(subscriber, "config", None)
        durable = getattr(config, "durable_name", None) or getattr(subscriber, "durable", None)
        if stream is not None and durable:
            found.append((str(stream.name), str(durable)))
    return found


class ScrapeHook:
    """A service's own scrape-time refresh as start/stop hooks, so it reads only while the service runs."""

    def __init__(self, refresh: Refresh) -> None:
        self._refresh = refresh
        self._remove: Callable[[], None] | None = None

    async def start(self) -> None:
        self._remove = on_scrape(self._refresh)

    async def stop(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None

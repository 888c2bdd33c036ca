"""The lifecycle every event-driven service shares: Postgres pool, JetStream stream, outbox relay.

A service's composition root builds one `ServiceRuntime` and hands its hooks to FastStream:
the pool and the streams (events, dead letters) exist before any handler runs; the relay and
the retention pruner start once the broker is connected; on SIGTERM they stop first, the broker
lets running handlers finish (`graceful_timeout`), and the pool closes last.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from faststream import FastStream
from faststream.nats import NatsBroker

from aistudio_contracts import Event

from . import metrics, outbox
from .db import Listener, OnNotify, connect_session, create_pool
from .health import CHECK_TIMEOUT_SECONDS, HealthServer
from .logging import get_logger
from .messaging import durables, prepare_jetstream, publish_event
from .migrations import upgrade
from .outbox import OutboxRelay
from .retention import INBOX, Pruner, Retention
from .settings import ServiceSettings

log = get_logger(__name__)

Hook = Callable[[], Awaitable[None]]


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=_Closeable)


class Managed(Generic[C]):
    """A client (HTTP, SDK) that lives as long as the process: made once the event loop runs,
    closed at shutdown. Call it to get the client."""

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._client: C | None = None

    async def open(self) -> None:
        self._client = self._factory()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def __call__(self) -> C:
        if self._client is None:
            raise RuntimeError("the service has not started")
        return self._client


class ServiceRuntime:
    def __init__(
        self, settings: ServiceSettings, schema: str, broker: NatsBroker, *, acquire_timeout: float | None = None
    ) -> None:
        """`acquire_timeout`: how long any acquire from the pool may wait (the gateway's requests answer
        503 after it); None for workers, whose handlers may wait their turn."""
        self.settings = settings
        self._acquire_timeout = acquire_timeout
        self.schema = schema
        self.broker = broker
        self._pool: asyncpg.Pool | None = None
        self._relay: OutboxRelay | None = None
        self._managed: list[Managed[Any]] = []
        self._retention: list[Retention] = [INBOX]
        self._pruner: Pruner | None = None
        self._health: HealthServer | None = None
        self._stop_metrics: Callable[[], None] | None = None
        self._listeners: list[Listener] = []

    def managed(self, factory: Callable[[], C]) -> Managed[C]:
        client = Managed(factory)
        self._managed.append(client)
        return client

    def prune(self, table: str, *, by: str, where: str = "TRUE") -> None:
        """Delete rows of `table` whose `by` is older than RETENTION_DAYS and that match `where`
        (the inbox is always pruned). Call before the service starts."""
        self._retention.append(Retention(table, by, where))

    @property
    def pruner(self) -> Pruner:
        if self._pruner is None:
            raise RuntimeError("the service has not started")
        return self._pruner

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the service has not started")
        return self._pool

    async def connect_session(self) -> asyncpg.Connection:
        """A session of its own on Postgres (DATABASE_DIRECT_URL when set, past any pgbouncer):
        for LISTEN and session advisory locks, which transaction pooling would break. Close it."""
        if self.settings.database_direct_url:
            return await connect_session(self.settings.database_direct_url)
        return await connect_session(
            self.settings.database_url, statement_cache_size=self.settings.db_statement_cache_size
        )

    async def listen(self, channel: str, on_notify: OnNotify) -> Listener:
        """A started LISTEN on `channel` over a session connection, reopened whenever it is lost.
        `on_notify` gets each payload, and None after every (re)connect. Closed at shutdown at the latest."""

        async def close(conn: asyncpg.Connection) -> None:
            await conn.close(timeout=CHECK_TIMEOUT_SECONDS)

        listener = Listener(channel, on_notify, connect=self.connect_session, release=close)
        self._listeners.append(listener)
        await listener.start()
        return listener

    async def enqueue(self, conn: asyncpg.Connection, *events: Event) -> None:
        await outbox.enqueue(conn, self.schema, *events)

    async def publish(self, subject: str, payload: bytes, event_id: str) -> None:
        await publish_event(self.broker, subject, payload, event_id)

    async def readiness(self) -> dict[str, bool]:
        """What /readyz reports: the broker connected, the database answering, every consumer bound."""
        checks = {"broker": False, "database": False, "consumers": False}
        try:
            checks["broker"] = bool(self.broker.connection.is_connected)
        except Exception:
            checks["broker"] = False
        if self._pool is not None:
            try:
                async with self._pool.acquire(timeout=CHECK_TIMEOUT_SECONDS) as conn:
                    await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)
                checks["database"] = True
            except Exception:
                checks["database"] = False
        subscribers = self.broker.subscribers
        checks["consumers"] = bool(self.broker.running) and all(sub.running for sub in subscribers)
        return checks

    async def on_startup(self) -> None:
        if self.settings.health_port is not None and self._health is None:
            # First, so that liveness answers while the pool and the broker connect.
            self._health = HealthServer(self.settings.health_host, self.settings.health_port, self.readiness)
            await self._health.start()
        if self.settings.db_statement_cache_size == 0 and not self.settings.database_direct_url:
            # The cache is off for a transaction pooler; LISTEN and the migrations' lock would go through it.
            log.warning(
                "database_direct_url_unset",
                hint="through pgbouncer in transaction mode, set DATABASE_DIRECT_URL for LISTEN and migrations",
            )
        self._pool = await create_pool(
            self.settings.database_url,
            min_size=self.settings.db_pool_min,
            max_size=self.settings.db_pool_max,
            acquire_timeout=self._acquire_timeout,
            statement_cache_size=self.settings.db_statement_cache_size,
        )
        if self.settings.migrate_on_start:
            await self._migrate()
        self._pruner = Pruner(
            self._pool,
            self.schema,
            list(self._retention),
            keep=timedelta(days=self.settings.retention_days),
            interval_seconds=self.settings.retention_interval_seconds,
        )
        await self.broker.connect()
        js = self.broker.connection.jetstream(timeout=self.settings.jetstream_api_timeout_seconds)
        await prepare_jetstream(
            js,
            [self.settings.events_stream, self.settings.dead_letter_stream],
            durables(self.broker),
            wait_seconds=self.settings.jetstream_startup_wait_seconds,
            call_timeout=self.settings.jetstream_api_timeout_seconds,
        )

    async def _migrate(self) -> None:
        # On a session of its own: replicas starting together wait on a session advisory lock.
        conn = await self.connect_session()
        try:
            applied = await upgrade(conn, self.schema)
        finally:
            await conn.close()
        if applied:
            log.info("migrations_applied", versions=applied)

    async def after_startup(self) -> None:
        self._relay = OutboxRelay(self.pool, self.schema, self.publish, db=self)
        await self._relay.start()
        await self.pruner.start()
        self._stop_metrics = metrics.on_scrape(metrics.RuntimeGauges(self.pool, self.schema, self.broker).refresh)
        log.info("service_started", schema=self.schema)

    async def on_shutdown(self) -> None:
        if self._health:
            self._health.drain()  # not ready from now on: no new work is routed here
        if self._stop_metrics:
            self._stop_metrics()
        if self._pruner:
            await self._pruner.stop()
        if self._relay:
            await self._relay.stop()

    async def after_shutdown(self) -> None:
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()
        if self._pool:
            await self._pool.close()
        if self._health:
            await self._health.stop()
            self._health = None
        log.info("service_stopped", schema=self.schema)

    def application(self, *, start: Sequence[Hook] = (), stop: Sequence[Hook] = ()) -> FastStream:
        """The FastStream app: managed clients, pool and stream first; `start` hooks (background
        workers) once the broker consumes; on shutdown `stop` hooks first, the pool and clients last."""
        opens = [client.open for client in self._managed]
        closes = [client.close for client in self._managed]
        return FastStream(
            self.broker,
            on_startup=[*opens, self.on_startup],
            after_startup=[self.after_startup, *start],
            on_shutdown=[*stop, self.on_shutdown],
            after_shutdown=[self.after_shutdown, *closes],
        )

    async def open(self) -> None:
        """For hosts other than FastStream (the gateway's FastAPI lifespan)."""
        for client in self._managed:
            await client.open()
        await self.on_startup()

    async def close(self) -> None:
        await self.after_shutdown()
        for client in self._managed:
            await client.close()

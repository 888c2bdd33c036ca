"""Transactional outbox: record events with the state change, publish them after commit.

`enqueue` runs inside the caller's transaction. `OutboxRelay` publishes pending rows to
JetStream with `Nats-Msg-Id` = event id, waits for the PubAck, then marks them published.
A crash between the PubAck and the mark republishes the event; the stream's duplicate
window and the idempotent consumers make that harmless. Replicas share the work through
`FOR UPDATE SKIP LOCKED`; a NOTIFY wakes the relay as soon as a transaction commits (the NOTIFY
is sent inside that transaction, so it works through pgbouncer in transaction mode; the LISTEN
is the database's, on a session connection of its own).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

from aistudio_contracts import Event

from . import tracing
from .db import Database, Listener, listen
from .logging import get_logger

log = get_logger(__name__)

Publish = Callable[[str, bytes, str], Awaitable[None]]


def channel_for(schema: str) -> str:
    return f"{schema}_outbox"


async def enqueue(conn: asyncpg.Connection, schema: str, *events: Event) -> None:
    if not events:
        return
    # The writer's trace goes with the row: the relay publishes the event inside that trace.
    traceparent = tracing.current_traceparent()
    await conn.executemany(
        f"INSERT INTO {schema}.outbox (event_id, subject, payload, traceparent) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING",
        [(event.event_id, event.subject, event.to_json(), traceparent) for event in events],
    )
    await conn.execute("SELECT pg_notify($1, '')", channel_for(schema))


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        publish: Publish,
        *,
        db: Database | None = None,
        batch_size: int = 100,
        idle_poll_seconds: float = 1.0,
        keep_published_hours: float = 24.0,
    ) -> None:
        self._pool = pool
        self._db = db
        self._schema = schema
        self._publish = publish
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._keep_published_hours = keep_published_hours
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._stopping = False

    def _on_notify(self, _payload: str | None) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        self._listener = await listen(self._db or _PoolOnly(self._pool), channel_for(self._schema), self._on_notify)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._schema}")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
        if self._listener is not None:
            await self._listener.close()

    async def drain_once(self) -> int:
        """Publish one batch; returns how many events went out."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, event_id, subject, payload, traceparent FROM {self._schema}.outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            await asyncio.gather(*(self._publish_row(row) for row in rows))
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            return len(rows)

    async def _publish_row(self, row: asyncpg.Record) -> None:
        # Its own task (gather): the row's trace is current only while this row is published.
        with tracing.continued(row["traceparent"]):
            await self._publish(row["subject"], bytes(row["payload"]), str(row["event_id"]))

    async def _run(self) -> None:
        failures = 0
        cleaned_at = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                self._wakeup.clear()
                published = await self.drain_once()
                failures = 0
                if loop.time() - cleaned_at > 600:
                    await self._delete_old()
                    cleaned_at = loop.time()
                if published >= self._batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle_poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or the database is away: wait and try again
                failures += 1
                delay = min(0.2 * 2**failures, 10.0)
                log.warning("outbox_relay_retry", schema=self._schema, error=repr(exc), delay=delay)
                await asyncio.sleep(delay)

    async def _delete_old(self) -> None:
        await self._pool.execute(
            f"DELETE FROM {self._schema}.outbox WHERE published_at < now() - make_interval(hours => $1)",
            self._keep_published_hours,
        )


class _PoolOnly:
    """A relay given only a pool listens over one of its connections."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

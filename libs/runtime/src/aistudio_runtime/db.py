"""Postgres wiring: the pool, a transaction helper, and LISTEN kept over a session connection.

DATABASE_URL may point at pgbouncer in transaction mode. Everything sent through the pool then
works statement by statement or transaction by transaction: plain queries, transactions,
`pg_advisory_xact_lock` and a NOTIFY inside a transaction (delivered at commit) — provided that
asyncpg keeps no named prepared statements (DB_STATEMENT_CACHE_SIZE=0; with it asyncpg uses unnamed
statements parsed again in each round trip). What needs one server session for longer — LISTEN,
and the migrations' session advisory lock — gets a connection of its own (`connect_session`), to
DATABASE_DIRECT_URL when it is set.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

import asyncpg

from .logging import get_logger

log = get_logger(__name__)

# A notification's payload; None after (re)connecting, when notifications may have been missed.
OnNotify = Callable[[str | None], None]
# How often an idle listener checks that its connection still answers (a half-open socket is silent).
LISTENER_CHECK_SECONDS = 10.0
_CHECK_TIMEOUT_SECONDS = 5.0


class Database(Protocol):
    """Anything that hands out the service's pool once it has started (a ServiceRuntime, or a test's)."""

    @property
    def pool(self) -> asyncpg.Pool: ...


@runtime_checkable
class ListeningDatabase(Database, Protocol):
    """A database that also opens listeners where the deployment wants them (a ServiceRuntime)."""

    async def listen(self, channel: str, on_notify: OnNotify) -> "Listener": ...


class BoundedWaitPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type information
    """A pool whose every acquire waits at most `acquire_timeout` unless the caller gives its own:
    `pool.acquire()` and the pool's own fetch/execute (which acquire through it) alike. With every
    connection held, a request then fails with TimeoutError (a 503) instead of queueing without end."""

    __slots__ = ("_acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_cache_size: int = 100,
    acquire_timeout: float | None = None,
) -> asyncpg.Pool:
    """`acquire_timeout`: how long any acquire waits for a free connection (None: as long as it takes)."""
    pool = await BoundedWaitPool(
        dsn,
        acquire_timeout=acquire_timeout,
        min_size=min_size,
        max_size=max_size,
        # asyncpg.create_pool's own defaults, which the pool's constructor does not have.
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        # A dead server must not hang a request: fail fast and let the caller answer 503.
        timeout=5,
        command_timeout=15,
        statement_cache_size=statement_cache_size,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection goes through on its way back to the pool, beyond asyncpg's own ROLLBACK of
    a transaction left open: nothing. asyncpg's default also sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` on every release, a round trip and four statements for
    Postgres on every pooled query (the largest single item of the gateway's accept path in a
    profile). Pooled connections here never carry session state: LISTEN, session advisory locks and
    SET go on a session of their own (`connect_session`), locks on pooled ones are transaction-scoped,
    and a borrowed listener UNLISTENs before its release (asyncpg's remove_listener)."""


async def connect_session(dsn: str, *, statement_cache_size: int = 100) -> asyncpg.Connection:
    """A connection of its own, outside the pool: for LISTEN and session advisory locks."""
    return await asyncpg.connect(dsn, timeout=5, command_timeout=15, statement_cache_size=statement_cache_size)


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        yield conn


class Listener:
    """LISTEN on one channel, kept: a lost connection is opened again (with backoff) and listens again.

    `on_notify` gets each notification's payload, and None once the listener (re)connected, since
    anything notified meanwhile was missed: callers treat None as "look again".
    """

    def __init__(
        self,
        channel: str,
        on_notify: OnNotify,
        *,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        release: Callable[[asyncpg.Connection], Awaitable[object]],
        check_seconds: float = LISTENER_CHECK_SECONDS,
    ) -> None:
        self.channel = channel
        self._on_notify = on_notify
        self._connect = connect
        self._release = release
        self._check_seconds = check_seconds
        self._lost = asyncio.Event()
        self._tried = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        """Listen from now on; returns after the first attempt, which may fail (it is retried)."""
        self._task = asyncio.create_task(self._keep(), name=f"listen-{self.channel}")
        await self._tried.wait()

    async def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def _keep(self) -> None:
        failures = 0
        while not self._closing:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                conn.add_termination_listener(self._terminated)
                await conn.add_listener(self.channel, self._deliver)
                self.connected, failures = True, 0
                self._tried.set()
                self._on_notify(None)
                await self._watch(conn)
            except Exception as exc:  # the database is away: try again
                failures += 1
                delay = min(0.2 * 2**failures, 10.0)
                log.warning("listener_retry", channel=self.channel, error=repr(exc), delay=delay)
                self._tried.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), timeout=delay)
            finally:
                self.connected = False
                self._lost.clear()
                if conn is not None:
                    await self._let_go(conn)

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Until the connection is lost or the listener closes; an idle one is checked now and then."""
        while not self._closing:
            try:
                await asyncio.wait_for(self._lost.wait(), timeout=self._check_seconds)
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=_CHECK_TIMEOUT_SECONDS)
                continue
            if not self._closing:
                raise ConnectionError("the listening connection was lost")
            return

    def _terminated(self, _conn: object) -> None:
        self._lost.set()

    async def _let_go(self, conn: asyncpg.Connection) -> None:
        # Removed first: a pool keeps the connection, and its later end is no news to this listener.
        conn.remove_termination_listener(self._terminated)
        with contextlib.suppress(Exception):
            if not conn.is_closed():
                await conn.remove_listener(self.channel, self._deliver)
        with contextlib.suppress(Exception):
            await self._release(conn)


async def listen(db: Database, channel: str, on_notify: OnNotify) -> Listener:
    """A started listener for `db`: its own kind when it has one (a ServiceRuntime picks the
    session connection), otherwise a connection taken from its pool for as long as it listens."""
    if isinstance(db, ListeningDatabase):
        return await db.listen(channel, on_notify)
    pool = db.pool
    listener = Listener(channel, on_notify, connect=pool.acquire, release=pool.release)
    await listener.start()
    return listener

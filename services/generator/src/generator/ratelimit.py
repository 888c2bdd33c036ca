"""KIE's account-wide submit limit, shared by every generator replica through Postgres.

A sliding window: a submission may start when fewer than `limit` started in the last `window`
seconds. Bookings are serialised by a transaction-scoped advisory lock, so replicas never
overbook; work over the limit waits its turn instead of drawing a 429.
"""

import asyncio
from collections.abc import Awaitable, Callable

from aistudio_runtime import Database

_LOCK_KEY = 0x4B49455F5355424D  # "KIE_SUBM"
# KIE counts by its own clock; a small margin keeps us clear of its window edge.
_MARGIN_SECONDS = 0.25


class SubmitRateLimiter:
    def __init__(self, db: Database, *, limit: int, window_seconds: float) -> None:
        self._db = db
        self._limit = limit
        self._window = window_seconds + _MARGIN_SECONDS

    async def try_acquire(self) -> float:
        """Book a slot now and return 0, or return how many seconds to wait before trying again."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(
                "DELETE FROM generator.kie_submissions WHERE at < clock_timestamp() - make_interval(secs => $1)",
                self._window * 6,
            )
            wait = await conn.fetchval(
                "SELECT EXTRACT(EPOCH FROM (at + make_interval(secs => $1) - clock_timestamp()))"
                " FROM generator.kie_submissions WHERE at > clock_timestamp() - make_interval(secs => $1)"
                " ORDER BY at DESC OFFSET $2 - 1 LIMIT 1",
                self._window,
                self._limit,
            )
            if wait is not None and wait > 0:
                return float(wait)
            await conn.execute("INSERT INTO generator.kie_submissions DEFAULT VALUES")
            return 0.0

    async def acquire(self, heartbeat: Callable[[], Awaitable[None]] | None = None) -> float:
        """Wait for a slot; returns the seconds spent waiting. `heartbeat` runs while waiting."""
        waited = 0.0
        while (delay := await self.try_acquire()) > 0:
            if heartbeat is not None:
                await heartbeat()
            step = min(delay, 5.0)
            await asyncio.sleep(step)
            waited += step
        return waited

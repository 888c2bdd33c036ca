"""Late's limits, shared by every publisher replica through Postgres.

Two kinds: Late's API limit (a sliding window of calls, and after a 429 a cooldown until its
Retry-After that every replica honours), and Late's per-account limits on new posts (25 an
hour; Instagram 100 a day), counted from the creates each account had. Bookings are serialised
by a transaction-scoped advisory lock, so replicas never overbook; work over a limit waits in
the post table instead of drawing a 429.
"""

from collections.abc import Sequence

from aistudio_contracts import PostTarget
from aistudio_runtime import Database

_LOCK_KEY = 0x4C4154455F415049  # "LATE_API"


class LateLimiter:
    def __init__(
        self, db: Database, *, limit: int, window_seconds: float, account_hourly: int, instagram_daily: int
    ) -> None:
        self._db = db
        self._limit = limit
        self._window = window_seconds
        self._account_hourly = account_hourly
        self._instagram_daily = instagram_daily

    async def book(self) -> float:
        """Book one call to Late now (0.0), or say how many seconds until one may be made."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            cooldown = await conn.fetchval(
                "SELECT EXTRACT(EPOCH FROM (until - clock_timestamp()))::float8 FROM publisher.late_cooldown"
            )
            if cooldown is not None and cooldown > 0:
                return float(cooldown)
            await conn.execute(
                "DELETE FROM publisher.late_calls WHERE at < clock_timestamp() - make_interval(secs => $1)",
                self._window * 2,
            )
            wait = await conn.fetchval(
                "SELECT EXTRACT(EPOCH FROM (at + make_interval(secs => $1) - clock_timestamp()))::float8"
                " FROM publisher.late_calls WHERE at > clock_timestamp() - make_interval(secs => $1)"
                " ORDER BY at DESC OFFSET $2 - 1 LIMIT 1",
                self._window,
                self._limit,
            )
            if wait is not None and wait > 0:
                return float(wait)
            await conn.execute("INSERT INTO publisher.late_calls DEFAULT VALUES")
            return 0.0

    async def cool_down(self, seconds: float) -> None:
        """Late answered 429: no replica calls it again for `seconds`."""
        await self._db.pool.execute(
            "INSERT INTO publisher.late_cooldown (id, until) VALUES (1, clock_timestamp() + make_interval(secs => $1))"
            " ON CONFLICT (id) DO UPDATE SET until = GREATEST(publisher.late_cooldown.until, EXCLUDED.until)",
            max(seconds, 0.0),
        )

    async def account_wait(self, targets: Sequence[PostTarget]) -> float:
        """Seconds until every target account may take one more post (0.0: now)."""
        wait = 0.0
        for target in targets:
            checks = [(3600.0, self._account_hourly)]
            if target.platform == "instagram":
                checks.append((86400.0, self._instagram_daily))
            for window, limit in checks:
                value = await self._db.pool.fetchval(
                    "SELECT EXTRACT(EPOCH FROM (at + make_interval(secs => $2) - clock_timestamp()))::float8"
                    " FROM publisher.account_creates WHERE account_id = $1"
                    " AND at > clock_timestamp() - make_interval(secs => $2) ORDER BY at DESC OFFSET $3 - 1 LIMIT 1",
                    target.account_id,
                    window,
                    limit,
                )
                if value is not None:
                    wait = max(wait, float(value))
        return wait

"""The quota ledger: race-free reserve, commit and release, each exactly once.

A reservation is taken by one conditional UPDATE (`used + reserved + 1 <= limit`), which
cannot overrun under Read Committed however many requests race. Its state moves
reserved → committed | released by conditional UPDATEs, so a redelivered outcome event
finds nothing to move and changes nothing.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import asyncpg

from aistudio_contracts import Plan, UsageSummary
from aistudio_runtime import Database

from .periods import period_bounds, period_start

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, db: Database, *, free_monthly_limit: int, clock: Clock = utc_now) -> None:
        self._db = db
        self._free_limit = free_monthly_limit
        self._clock = clock

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._db.pool

    def limit_for(self, plan: Plan) -> int | None:
        return None if plan is Plan.PRO else self._free_limit

    async def reserve(self, request_id: UUID, user_id: str) -> tuple[bool, UsageSummary]:
        now = self._clock()
        period = period_start(now)
        async with self._pool.acquire() as conn, conn.transaction():
            # The request id first: a retry of a request finds its reservation and takes nothing.
            inserted = await conn.fetchval(
                "INSERT INTO usage.reservations (request_id, user_id, period_start, state, created_at)"
                " VALUES ($1, $2, $3, 'reserved', $4) ON CONFLICT DO NOTHING RETURNING true",
                request_id,
                user_id,
                period,
                now,
            )
            if not inserted:
                existing = await conn.fetchrow(
                    "SELECT state, period_start FROM usage.reservations WHERE request_id = $1", request_id
                )
                assert existing is not None
                return existing["state"] != "released", await self._summary(conn, user_id, existing["period_start"])
            # One conditional upsert takes the unit: under the row lock, used + reserved + 1 <= limit.
            row = await conn.fetchrow(
                "WITH account AS (SELECT COALESCE((SELECT plan FROM usage.accounts WHERE user_id = $1), 'free')"
                "   AS plan)"
                " INSERT INTO usage.monthly_usage AS m (user_id, period_start, reserved)"
                " SELECT $1, $2, 1 FROM account WHERE account.plan = 'pro' OR $3 >= 1"
                " ON CONFLICT (user_id, period_start) DO UPDATE SET reserved = m.reserved + 1"
                " WHERE (SELECT plan FROM account) = 'pro' OR m.used + m.reserved + 1 <= $3"
                " RETURNING m.used, m.reserved, (SELECT plan FROM account) AS plan",
                user_id,
                period,
                self._free_limit,
            )
            if row is None:
                await conn.execute("DELETE FROM usage.reservations WHERE request_id = $1", request_id)
                return False, await self._summary(conn, user_id, period)
            return True, self._summarise(user_id, Plan(row["plan"]), period, row["used"], row["reserved"])

    async def commit(self, request_id: UUID) -> bool:
        return await self._settle(request_id, "committed", "used = used + 1, reserved = reserved - 1")

    async def release(self, request_id: UUID) -> bool:
        return await self._settle(request_id, "released", "reserved = reserved - 1")

    async def _settle(self, request_id: UUID, state: str, counters: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE usage.reservations SET state = $2, settled_at = now()"
                " WHERE request_id = $1 AND state = 'reserved' RETURNING user_id, period_start",
                request_id,
                state,
            )
            if row is None:
                return False
            await conn.execute(
                f"UPDATE usage.monthly_usage SET {counters} WHERE user_id = $1 AND period_start = $2",
                row["user_id"],
                row["period_start"],
            )
            return True

    async def release_stale(self, older_than: timedelta) -> int:
        """Give back reservations that saw no outcome in time; returns how many."""
        cutoff = self._clock() - older_than
        rows = await self._pool.fetch(
            "SELECT request_id FROM usage.reservations WHERE state = 'reserved' AND created_at < $1 LIMIT 500",
            cutoff,
        )
        released = 0
        for row in rows:
            released += await self.release(row["request_id"])
        return released

    async def set_plan(self, user_id: str, plan: Plan) -> UsageSummary:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO usage.accounts (user_id, plan) VALUES ($1, $2)"
                " ON CONFLICT (user_id) DO UPDATE SET plan = EXCLUDED.plan, updated_at = now()",
                user_id,
                plan.value,
            )
            return await self._summary(conn, user_id, period_start(self._clock()), plan)

    async def summary(self, user_id: str) -> UsageSummary:
        async with self._pool.acquire() as conn:
            return await self._summary(conn, user_id, period_start(self._clock()))

    async def _plan(self, conn: asyncpg.Connection, user_id: str) -> Plan:
        plan = await conn.fetchval("SELECT plan FROM usage.accounts WHERE user_id = $1", user_id)
        return Plan(plan) if plan else Plan.FREE

    async def _summary(
        self, conn: asyncpg.Connection, user_id: str, period: date, plan: Plan | None = None
    ) -> UsageSummary:
        plan = plan or await self._plan(conn, user_id)
        row = await conn.fetchrow(
            "SELECT used, reserved FROM usage.monthly_usage WHERE user_id = $1 AND period_start = $2",
            user_id,
            period,
        )
        used, reserved = (row["used"], row["reserved"]) if row else (0, 0)
        return self._summarise(user_id, plan, period, used, reserved)

    def _summarise(self, user_id: str, plan: Plan, period: date, used: int, reserved: int) -> UsageSummary:
        limit = self.limit_for(plan)
        start, end = period_bounds(period)
        return UsageSummary(
            user_id=user_id,
            plan=plan,
            limit=limit,
            used=used,
            reserved=reserved,
            remaining=None if limit is None else max(limit - used - reserved, 0),
            period_start=start,
            period_end=end,
        )

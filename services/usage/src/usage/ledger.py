"""The quota ledger: the only writer of the usage tables.

A unit is taken by one conditional upsert (`used + reserved + 1 <= limit` under the row lock),
which cannot overrun under Read Committed however many requests race. Every other move of a
reservation is decided by domain/reservation.py: the ledger locks the reservation's row, asks
the lifecycle what the command does from its state, and applies the answer with an update
conditional on that from-state. A repeated command finds nothing to move and changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import asyncpg

from aistudio_contracts import Plan, UsageSummary
from aistudio_runtime import Database

from .domain import plans, reservation
from .domain.reservation import ReservationState, Transition
from .periods import period_bounds, period_start

Clock = Callable[[], datetime]

SWEEP_BATCH = 500

_Decide = Callable[[ReservationState | None], Transition | None]


@dataclass(frozen=True, slots=True)
class _Reservation:
    """A locked reservation row, as far as the lifecycle and the counters need it."""

    state: ReservationState
    user_id: str
    period: date


def utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(
        self,
        db: Database,
        *,
        free_monthly_limit: int,
        generation_timeout: timedelta = timedelta(seconds=1200),
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._free_limit = free_monthly_limit
        # Only for reservations stored before ReserveQuota carried the job's deadline.
        self._generation_timeout = generation_timeout
        self._clock = clock

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._db.pool

    def limit_for(self, plan: Plan) -> int | None:
        return None if plan is Plan.PRO else self._free_limit

    async def reserve(
        self,
        request_id: UUID,
        user_id: str,
        deadline_at: datetime | None = None,
        also_request_ids: list[UUID] | None = None,
    ) -> tuple[bool, UsageSummary]:
        if also_request_ids:
            return await self._reserve_batch([request_id, *also_request_ids], user_id, deadline_at)
        now = self._clock()
        period = period_start(now)
        async with self._pool.acquire() as conn, conn.transaction():
            # The request id first: a retry of a request finds its reservation and takes nothing.
            inserted = await conn.fetchval(
                "INSERT INTO usage.reservations (request_id, user_id, period_start, state, created_at, deadline_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
                request_id,
                user_id,
                period,
                reservation.RESERVE.target,
                now,
                deadline_at,
            )
            if inserted:
                summary = await self._take_unit(conn, user_id, period)
                if summary is None:  # refused: leave no row, so that a later retry may try again
                    await conn.execute("DELETE FROM usage.reservations WHERE request_id = $1", request_id)
                    return False, await self._summary(conn, user_id, period)
                return True, summary
            existing = await self._lock(conn, request_id)
            if existing is None:  # a concurrent refused reserve of the same id removed its row
                return False, await self._summary(conn, user_id, period)
            decision = reservation.reserve(existing.state)
            move = decision.transition
            if move is None:
                return decision.granted, await self._summary(conn, user_id, existing.period)
            if not move.takes_unit:
                await self._apply(conn, request_id, existing, move)
                return decision.granted, await self._summary(conn, user_id, existing.period)
            summary = await self._take_unit(conn, user_id, period)
            if summary is None:
                return False, await self._summary(conn, user_id, period)
            # The unit was taken this month, for this attempt's deadline.
            await conn.execute(
                "UPDATE usage.reservations SET state = $3, period_start = $4, deadline_at = $5,"
                " settled_at = NULL WHERE request_id = $1 AND state = $2",
                request_id,
                move.source,
                move.target,
                period,
                deadline_at,
            )
            return True, summary

    async def _reserve_batch(
        self, request_ids: list[UUID], user_id: str, deadline_at: datetime | None
    ) -> tuple[bool, UsageSummary]:
        """Variants: a unit for every request id or none, under the one conditional upsert (taking
        len(request_ids) at once), so a batch can neither overrun the limit nor take part of it."""
        now = self._clock()
        period = period_start(now)
        async with self._pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                rows = await conn.fetch(
                    "SELECT request_id, state FROM usage.reservations WHERE request_id = ANY($1::uuid[]) FOR UPDATE",
                    request_ids,
                )
                found = {row["request_id"]: ReservationState(row["state"]) for row in rows}
                decision = reservation.reserve_batch([found.get(request_id) for request_id in request_ids])
                summary: UsageSummary | None = None
                if decision.granted and decision.transition is not None:
                    inserted = await conn.fetch(
                        "INSERT INTO usage.reservations (request_id, user_id, period_start, state, created_at,"
                        " deadline_at) SELECT id, $2, $3, $4, $5, $6 FROM unnest($1::uuid[]) AS id"
                        " ON CONFLICT DO NOTHING RETURNING request_id",
                        request_ids,
                        user_id,
                        period,
                        decision.transition.target,
                        now,
                        deadline_at,
                    )
                    if len(inserted) == len(request_ids):
                        summary = await self._take_unit(conn, user_id, period, units=len(request_ids))
                granted = decision.granted and (decision.transition is None or summary is not None)
                if not granted:  # nothing of the batch is kept: a later retry may try again
                    await transaction.rollback()
                    return False, await self._summary(conn, user_id, period)
                await transaction.commit()
            except BaseException:
                await transaction.rollback()
                raise
            return True, summary or await self._summary(conn, user_id, period)

    async def settle(self, request_id: UUID, *, charged: bool) -> Transition | None:
        """The catalog's verdict on the asset: charged commits the unit, not charged releases it."""
        return await self._command(request_id, lambda state: reservation.settle(state, charged=charged))

    async def withdraw(self, request_id: UUID, user_id: str) -> Transition | None:
        """The gateway did not store the asset: give the unit back, or refuse its reserve in advance."""
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            tombstoned = await conn.fetchval(
                "INSERT INTO usage.reservations (request_id, user_id, period_start, state, created_at, settled_at)"
                " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING RETURNING true",
                request_id,
                user_id,
                period_start(now),
                reservation.WITHDRAW_UNSEEN.target,
                now,
            )
            if tombstoned:
                return reservation.WITHDRAW_UNSEEN
            return await self._decide(conn, request_id, reservation.withdraw)

    async def expire_overdue(self, grace: timedelta) -> int:
        """Give back reservations still open `grace` after their job's deadline; returns how many."""
        rows = await self._pool.fetch(
            "SELECT request_id FROM usage.reservations WHERE state = ANY($1::text[])"
            " AND COALESCE(deadline_at, created_at + $2::interval) < $3 LIMIT $4",
            list(reservation.EXPIRABLE),
            self._generation_timeout,
            self._clock() - grace,
            SWEEP_BATCH,
        )
        expired = 0
        for row in rows:
            expired += await self._command(row["request_id"], reservation.expire) is not None
        return expired

    async def _command(self, request_id: UUID, decide: _Decide) -> Transition | None:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._decide(conn, request_id, decide)

    async def _decide(self, conn: asyncpg.Connection, request_id: UUID, decide: _Decide) -> Transition | None:
        """Lock the reservation, ask the lifecycle what `decide` does from its state, and apply it."""
        existing = await self._lock(conn, request_id)
        move = decide(existing.state if existing else None)
        if move is None or existing is None:
            return None
        await self._apply(conn, request_id, existing, move)
        return move

    async def _lock(self, conn: asyncpg.Connection, request_id: UUID) -> _Reservation | None:
        row = await conn.fetchrow(
            "SELECT state, user_id, period_start FROM usage.reservations WHERE request_id = $1 FOR UPDATE",
            request_id,
        )
        if row is None:
            return None
        return _Reservation(ReservationState(row["state"]), row["user_id"], row["period_start"])

    async def _apply(
        self, conn: asyncpg.Connection, request_id: UUID, existing: _Reservation, move: Transition
    ) -> None:
        moved = await conn.fetchval(
            "UPDATE usage.reservations SET state = $3, settled_at = $4"
            " WHERE request_id = $1 AND state = $2 RETURNING true",
            request_id,
            move.source,
            move.target,
            self._clock(),
        )
        if not moved or not (move.used or move.reserved):
            return
        # An upsert: a verdict on a tombstone may count a unit in a month that has no row yet.
        await conn.execute(
            "INSERT INTO usage.monthly_usage AS m (user_id, period_start, used, reserved)"
            " VALUES ($1, $2, GREATEST($3, 0), GREATEST($4, 0))"
            " ON CONFLICT (user_id, period_start) DO UPDATE SET used = m.used + $3, reserved = m.reserved + $4",
            existing.user_id,
            existing.period,
            move.used,
            move.reserved,
        )

    async def _take_unit(
        self, conn: asyncpg.Connection, user_id: str, period: date, units: int = 1
    ) -> UsageSummary | None:
        """Usage's one conditional upsert takes the units (usage.take_units, migration 0003): under
        the row lock, used + reserved + units <= limit. The gateway's accept transaction takes them
        through the same function."""
        row = await conn.fetchrow(
            "SELECT used_units, reserved_units, plan_name FROM usage.take_units($1, $2, $4, $3)",
            user_id,
            period,
            self._free_limit,
            units,
        )
        if row is None:
            return None
        return self._summarise(user_id, Plan(row["plan_name"]), period, row["used_units"], row["reserved_units"])

    async def publish_rules(self) -> None:
        """Store the free plan's limit where the gateway's accept transaction reads it (at start-up;
        until a usage service has done so once, the gateway accepts nothing)."""
        await self._pool.execute(
            "INSERT INTO usage.quota_rules (free_monthly_limit) VALUES ($1) ON CONFLICT (singleton)"
            " DO UPDATE SET free_monthly_limit = EXCLUDED.free_monthly_limit, updated_at = now()"
            " WHERE quota_rules.free_monthly_limit <> EXCLUDED.free_monthly_limit",
            self._free_limit,
        )

    async def set_plan(self, user_id: str, plan: Plan, effective_at: datetime | None = None) -> UsageSummary:
        """Store the plan unless a change decided later is stored already (no time given: now)."""
        effective = effective_at or self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO usage.accounts (user_id, plan, plan_effective_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (user_id) DO NOTHING RETURNING true",
                user_id,
                plan.value,
                effective,
            )
            if not inserted:
                current = await conn.fetchval(
                    "SELECT plan_effective_at FROM usage.accounts WHERE user_id = $1 FOR UPDATE", user_id
                )
                if plans.supersedes(effective, current):
                    await conn.execute(
                        "UPDATE usage.accounts SET plan = $2, plan_effective_at = $3, updated_at = now()"
                        " WHERE user_id = $1",
                        user_id,
                        plan.value,
                        effective,
                    )
            return await self._summary(conn, user_id, period_start(self._clock()))

    async def summary(self, user_id: str) -> UsageSummary:
        async with self._pool.acquire() as conn:
            return await self._summary(conn, user_id, period_start(self._clock()))

    async def _plan(self, conn: asyncpg.Connection, user_id: str) -> Plan:
        plan = await conn.fetchval("SELECT plan FROM usage.accounts WHERE user_id = $1", user_id)
        return Plan(plan) if plan else Plan.FREE

    async def _summary(self, conn: asyncpg.Connection, user_id: str, period: date) -> UsageSummary:
        plan = await self._plan(conn, user_id)
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

"""Per-user limits: request rates, open event streams and on-demand captions.

The counters live in Postgres (migration 0005), so a user who spreads requests over replicas meets
the same limits; only the user's plan is cached in process (a minute), so that a request does not
cost a round trip to the usage service. Nothing here knows HTTP: a refusal is `LimitExceeded`.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid4

import asyncpg

from aistudio_contracts import Plan

from .settings import GatewaySettings

PLAN_CACHE_SECONDS = 60.0
PRO_FACTOR = 10
# A stream's row is renewed this often while it is open; a row older than STREAM_STALE_SECONDS belongs
# to a replica that died and no longer counts.
STREAM_HEARTBEAT_SECONDS = 15.0
STREAM_STALE_SECONDS = 60.0
# The calendar month in UTC, as the usage service counts generations.
_MONTH_START = "(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


class Bucket(StrEnum):
    GENERATE = "generate"
    CAPTION = "caption"
    DEFAULT = "default"


class LimitExceeded(Exception):
    def __init__(self, message: str, retry_after: int, *, kind: str = "rate") -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)
        self.kind = kind


class CaptionAllowanceUsed(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The free plan includes {limit} on-demand captions a month.")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class CaptionUsage:
    used: int
    limit: int | None  # None: unlimited


class PlanCache:
    """Each user's plan for up to a minute; on doubt (usage unreachable) the free plan's limits."""

    def __init__(self, lookup: Callable[[str], Awaitable[Plan]], clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        self._plans: dict[str, tuple[float, Plan]] = {}

    async def plan(self, user_id: str) -> Plan:
        now = self._clock()
        cached = self._plans.get(user_id)
        if cached and now - cached[0] < PLAN_CACHE_SECONDS:
            return cached[1]
        try:
            plan = await self._lookup(user_id)
        except Exception:
            return cached[1] if cached else Plan.FREE
        if len(self._plans) > 100_000:  # bounded: forget everyone rather than grow without end
            self._plans.clear()
        self._plans[user_id] = (now, plan)
        return plan

    def forget(self, user_id: str) -> None:
        self._plans.pop(user_id, None)


class UserLimits:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        settings: GatewaySettings,
        plans: PlanCache,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self.plans = plans
        self._timeout = settings.db_acquire_timeout_seconds

    def per_minute(self, bucket: Bucket, plan: Plan) -> int:
        base = {
            Bucket.GENERATE: self._settings.rate_limit_generate_per_minute,
            Bucket.CAPTION: self._settings.rate_limit_caption_per_minute,
            Bucket.DEFAULT: self._settings.rate_limit_per_minute,
        }[bucket]
        return base * PRO_FACTOR if plan is Plan.PRO else base

    async def hit(self, user_id: str, bucket: Bucket) -> None:
        """Count one request in this minute's window; LimitExceeded past the plan's rate."""
        limit = self.per_minute(bucket, await self.plans.plan(user_id))
        async with self._pool().acquire(timeout=self._timeout) as conn:
            row = await conn.fetchrow(
                "INSERT INTO gateway.rate_windows (user_id, bucket, window_start, hits)"
                " VALUES ($1, $2, date_trunc('minute', now()), 1)"
                " ON CONFLICT (user_id, bucket, window_start) DO UPDATE SET hits = rate_windows.hits + 1"
                " RETURNING hits, extract(epoch FROM window_start + interval '1 minute' - now()) AS left_s",
                user_id,
                bucket.value,
            )
            assert row is not None
            if row["hits"] == 1:  # a new window: the user's older ones are of no use any more
                await conn.execute(
                    "DELETE FROM gateway.rate_windows WHERE user_id = $1 AND bucket = $2"
                    " AND window_start < date_trunc('minute', now())",
                    user_id,
                    bucket.value,
                )
        if row["hits"] > limit:
            raise LimitExceeded(
                f"Too many requests: at most {limit} a minute. Please wait a moment.", int(row["left_s"]) + 1
            )

    async def open_stream(self, user_id: str) -> "StreamSlot":
        """Take one of the user's stream slots; LimitExceeded when all are taken. Counting and inserting
        run under a per-user advisory lock, so two replicas cannot both take the last slot."""
        slot_id = uuid4()
        async with self._pool().acquire(timeout=self._timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway.open_streams:' || $1))", user_id)
            taken = await conn.fetchval(
                "INSERT INTO gateway.open_streams (id, user_id)"
                " SELECT $1, $2 WHERE (SELECT count(*) FROM gateway.open_streams WHERE user_id = $2"
                "   AND heartbeat_at > now() - make_interval(secs => $4)) < $3"
                " RETURNING true",
                slot_id,
                user_id,
                self._settings.max_streams_per_user,
                STREAM_STALE_SECONDS,
            )
        if not taken:
            raise LimitExceeded(
                f"At most {self._settings.max_streams_per_user} live streams at once; close another tab.",
                int(STREAM_HEARTBEAT_SECONDS),
                kind="streams",
            )
        return StreamSlot(self, slot_id, time.monotonic())

    async def _execute(self, query: str, *args: object) -> None:
        async with self._pool().acquire(timeout=self._timeout) as conn:
            await conn.execute(query, *args)

    async def caption_usage(self, user_id: str, plan: Plan) -> CaptionUsage:
        limit = None if plan is Plan.PRO else self._settings.caption_monthly_limit_free
        async with self._pool().acquire(timeout=self._timeout) as conn:
            used = await conn.fetchval(
                "SELECT count(*) FROM gateway.caption_requests WHERE user_id = $1"
                " AND requested_at >= " + _MONTH_START + " AND succeeded IS NOT false",
                user_id,
            )
        return CaptionUsage(used=int(used), limit=limit)

    @asynccontextmanager
    async def caption(self, user_id: str) -> AsyncIterator["CaptionTicket"]:
        """One on-demand caption: within the month's allowance and the cap on those in flight. A caption
        that fails does not count against the allowance."""
        plan = await self.plans.plan(user_id)
        limit = None if plan is Plan.PRO else self._settings.caption_monthly_limit_free
        request_id = uuid4()
        stale = self._settings.caption_rpc_timeout_seconds * 2
        async with self._pool().acquire(timeout=self._timeout) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway.caption_requests:' || $1))", user_id)
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE finished_at IS NULL"
                "   AND requested_at > now() - make_interval(secs => $2)) AS in_flight,"
                " count(*) FILTER (WHERE requested_at >= " + _MONTH_START + " AND succeeded IS NOT false) AS used"
                " FROM gateway.caption_requests WHERE user_id = $1",
                user_id,
                stale,
            )
            assert row is not None
            if row["in_flight"] >= self._settings.max_captions_in_flight:
                raise LimitExceeded(
                    f"At most {self._settings.max_captions_in_flight} captions at once; wait for one to finish.",
                    5,
                    kind="captions_in_flight",
                )
            if limit is not None and row["used"] >= limit:
                raise CaptionAllowanceUsed(limit)
            await conn.execute(
                "INSERT INTO gateway.caption_requests (id, user_id) VALUES ($1, $2)", request_id, user_id
            )
        ticket = CaptionTicket()
        try:
            yield ticket
        finally:
            await self._execute(
                "UPDATE gateway.caption_requests SET finished_at = now(), succeeded = $2 WHERE id = $1",
                request_id,
                ticket.succeeded,
            )


@dataclass(slots=True)
class StreamSlot:
    limits: UserLimits
    slot_id: UUID
    renewed_at: float = 0.0

    async def holding(self, events: AsyncIterator[str]) -> AsyncIterator[str]:
        """Pass the stream's events on, renewing the slot as they go, and free it when the stream ends
        (a client gone, a replica stopping). A slot that is not freed stops counting once stale."""
        try:
            async for event in events:
                yield event
                await self.heartbeat()
        finally:
            with contextlib.suppress(Exception):
                await self.close()

    async def close(self) -> None:
        await self.limits._execute("DELETE FROM gateway.open_streams WHERE id = $1", self.slot_id)

    async def heartbeat(self) -> None:
        """Renew the slot's row (cheap to call often: it writes at most every STREAM_HEARTBEAT_SECONDS)."""
        now = time.monotonic()
        if now - self.renewed_at < STREAM_HEARTBEAT_SECONDS:
            return
        self.renewed_at = now
        await self.limits._execute(
            "UPDATE gateway.open_streams SET heartbeat_at = $2 WHERE id = $1", self.slot_id, datetime.now(UTC)
        )


@dataclass(slots=True)
class CaptionTicket:
    succeeded: bool = False

"""The generator's job table, `generator.jobs`, and its only writer.

Every move is a conditional update whose from-states come from the job lifecycle
(domain/job.py), so two replicas can never both move one job; each outcome is written with its
event in one transaction (outbox). Waiting work is scheduled here (`due_at`), not parked in the
consumer: one provider's outage never holds another provider's jobs.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts import (
    Event,
    FailureReason,
    GenerationCancelled,
    GenerationRequested,
    MediaType,
    Provider,
    QueueJoined,
    TaskStarted,
)
from aistudio_runtime import Database, enqueue, tracing

from .domain.fairness import FairShares
from .domain.job import CLAIMABLE, OPEN, STARTABLE, JobState, JobView, can_adopt, is_kie
from .domain.variants import Intake, VariantCancelled, Variants, cancel_asset, intake

SCHEMA = "generator"
WAKEUP_CHANNEL = "generator_jobs_due"

_COLUMNS = (
    "asset_id, state, provider, requested_provider, media_type, task_id, failure_reason, request, deadline_at,"
    " attempts, gemini_calls, in_doubt_since, traceparent, variant_asset_ids, cancelled_asset_ids"
)
KIE_PROVIDERS = [provider.value for provider in Provider if is_kie(provider)]

# The user's next tag: max(their last tag, the queue's clock) + 1/weight (domain/fairness.py), under
# the user's row lock, written onto the new job.
_STAMP_FAIR_TAG = (
    "WITH clock AS (SELECT virtual_time FROM generator.fair_clock WHERE queue = 'kie'),"
    " share AS (INSERT INTO generator.fair_shares (user_id, last_tag)"
    "   SELECT $2, clock.virtual_time + $3 FROM clock"
    "   ON CONFLICT (user_id) DO UPDATE"
    "   SET last_tag = GREATEST(generator.fair_shares.last_tag + $3, EXCLUDED.last_tag)"
    "   RETURNING last_tag)"
    " UPDATE generator.jobs SET fair_tag = share.last_tag FROM share WHERE asset_id = $1 RETURNING fair_tag"
)
# Work not waiting for KIE's limit: Gemini jobs and jobs in doubt (they make no new KIE request).
_CLAIM_OTHERS = (
    "UPDATE generator.jobs SET lease_until = clock_timestamp() + make_interval(secs => $2),"
    " state = CASE WHEN state = 'waiting' THEN 'claimed' ELSE state END"
    " WHERE asset_id IN (SELECT asset_id FROM generator.jobs"
    "   WHERE state = ANY($3::text[]) AND due_at <= clock_timestamp() AND request IS NOT NULL"
    "   AND NOT (state = 'waiting' AND provider = ANY($4::text[]))"
    "   ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
    f" RETURNING {_COLUMNS}"
)
# Waiting KIE jobs, smallest fair tag first: one statement, so replicas that claim at once each
# take other jobs.
_CLAIM_KIE_FAIRLY = (
    "UPDATE generator.jobs SET lease_until = clock_timestamp() + make_interval(secs => $2), state = 'claimed'"
    " WHERE asset_id IN (SELECT asset_id FROM generator.jobs"
    "   WHERE state = 'waiting' AND provider = ANY($3::text[]) AND due_at <= clock_timestamp()"
    "   AND request IS NOT NULL ORDER BY fair_tag, due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
    f" RETURNING {_COLUMNS}"
)


def _values(states: Iterable[JobState]) -> list[str]:
    return [state.value for state in states]


async def _lock_assets(conn: asyncpg.Connection, asset_ids: Iterable[UUID]) -> None:
    """Serialises a request and the cancels of its assets (in one order, so two never deadlock):
    a cancel either finds the job, or leaves the tombstone the request then finds."""
    for asset_id in sorted(set(asset_ids)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 11))", str(asset_id))


@dataclass(frozen=True, slots=True)
class Job:
    asset_id: UUID
    state: JobState
    provider: Provider
    requested_provider: Provider
    request: GenerationRequested
    deadline_at: datetime
    attempts: int
    gemini_calls: int
    in_doubt_since: datetime | None
    task_id: str | None
    failure_reason: str | None
    # The trace of the request: the scheduler works the job inside it.
    traceparent: str | None = None
    cancelled_asset_ids: tuple[UUID, ...] = ()

    @property
    def variants(self) -> Variants:
        return Variants.of(self.asset_id, self.request.variant_asset_ids, self.cancelled_asset_ids)

    @property
    def view(self) -> JobView:
        return JobView(
            state=self.state,
            provider=self.provider,
            media_type=self.request.media_type,
            deadline_at=self.deadline_at,
            attempts=self.attempts,
            gemini_calls=self.gemini_calls,
            in_doubt_since=self.in_doubt_since,
            batch=self.variants.is_batch,
        )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Job":
        return cls(
            asset_id=row["asset_id"],
            state=JobState(row["state"]),
            provider=Provider(row["provider"]),
            requested_provider=Provider(row["requested_provider"]),
            request=GenerationRequested.model_validate_json(row["request"]),
            deadline_at=row["deadline_at"],
            attempts=row["attempts"],
            gemini_calls=row["gemini_calls"],
            in_doubt_since=row["in_doubt_since"],
            task_id=row["task_id"],
            failure_reason=row["failure_reason"],
            traceparent=row["traceparent"],
            cancelled_asset_ids=tuple(row["cancelled_asset_ids"] or ()),
        )


class Jobs:
    def __init__(
        self, db: Database, fair: FairShares | None = None, typical_seconds: Mapping[MediaType, float] | None = None
    ) -> None:
        self._db = db
        self._fair = fair or FairShares()
        # How long a KIE task typically takes once started, for the ready estimate of a waiting job.
        self._typical_seconds = dict(typical_seconds or {})

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def enqueue(self, request: GenerationRequested, deadline_at: datetime) -> bool:
        """Take the request in as a waiting job, due now; False when a delivery before took it, or
        when every asset it makes was cancelled before it came (the job is then kept as failed,
        cancelled, and never sent: see domain/variants.py).

        A KIE job gets its fair-queue tag (domain/fairness.py) in the same transaction, only when it
        is new: a redelivered request never moves its user further back."""
        assets = request.variant_asset_ids or [request.asset_id]
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_assets(conn, assets)
            rows = await conn.fetch(
                "SELECT asset_id, request IS NOT NULL AS seen, failure_reason FROM generator.jobs"
                " WHERE asset_id = ANY($1::uuid[]) FOR UPDATE",
                assets,
            )
            if any(row["seen"] and row["asset_id"] == request.asset_id for row in rows):
                return False
            # Tombstones: cancels that came before this request. Their memory moves onto the job.
            cancelled = [row["asset_id"] for row in rows if row["failure_reason"] == FailureReason.CANCELLED.value]
            await conn.execute(
                "DELETE FROM generator.jobs WHERE asset_id = ANY($1::uuid[]) AND request IS NULL", assets
            )
            waiting = intake(Variants.of(request.asset_id, request.variant_asset_ids, cancelled)) is Intake.WAITING
            await conn.execute(
                "INSERT INTO generator.jobs (asset_id, user_id, requested_provider, provider, media_type, state,"
                " request, deadline_at, due_at, traceparent, variant_asset_ids, cancelled_asset_ids,"
                " failure_reason, finished_at)"
                " VALUES ($1, $2, $3, $3, $4, $9, $5, $6, clock_timestamp(), $7, $8, $10,"
                "  CASE WHEN $11 THEN NULL ELSE $12 END, CASE WHEN $11 THEN NULL ELSE clock_timestamp() END)",
                request.asset_id,
                request.user_id,
                request.provider.value,
                request.media_type.value,
                request.model_dump_json(),
                deadline_at,
                tracing.current_traceparent(),  # the request's trace, continued when the job is worked
                request.variant_asset_ids,
                (JobState.WAITING if waiting else JobState.FAILED).value,
                cancelled,
                waiting,
                FailureReason.CANCELLED.value,
            )
            if waiting and is_kie(request.provider):
                await self._join_queue(conn, request)
        if waiting:
            await self.wake()
        return waiting

    async def _join_queue(self, conn: asyncpg.Connection, request: GenerationRequested) -> None:
        ticket = await conn.fetchval(
            _STAMP_FAIR_TAG, request.asset_id, request.user_id, self._fair.increment(request.plan)
        )
        # The catalog shows the job's place from its ticket (aistudio_contracts.queue).
        joined = QueueJoined(
            correlation_id=request.asset_id,
            asset_id=request.asset_id,
            user_id=request.user_id,
            provider=request.provider,
            ticket=float(ticket),
            typical_seconds=self._typical_seconds.get(request.media_type),
        )
        await enqueue(conn, SCHEMA, joined)

    async def wake(self) -> None:
        await self._pool.execute("SELECT pg_notify($1, '')", WAKEUP_CHANNEL)

    async def recover_abandoned(self) -> tuple[int, int]:
        """Jobs whose worker went away: sent nothing → waiting again; maybe sent → in doubt."""
        async with self._pool.acquire() as conn, conn.transaction():
            unsent = await conn.fetch(
                "UPDATE generator.jobs SET state = 'waiting', due_at = clock_timestamp(), lease_until = NULL"
                " WHERE state = 'claimed' AND lease_until < clock_timestamp() RETURNING asset_id"
            )
            doubtful = await conn.fetch(
                "UPDATE generator.jobs SET state = 'in_doubt', in_doubt_since = clock_timestamp(),"
                " due_at = clock_timestamp(), lease_until = NULL"
                " WHERE state = 'submitting' AND lease_until < clock_timestamp() RETURNING asset_id"
            )
        return len(unsent), len(doubtful)

    async def claim_due(self, limit: int, lease_seconds: float, kie_slots: int) -> list[Job]:
        """Due jobs, leased to this worker: KIE-bound waiting jobs only as many as KIE has slots for,
        in fair order (smallest tag first); everything else, Gemini included, by due time, never
        behind KIE's queue."""
        rows = await self._pool.fetch(_CLAIM_OTHERS, limit, lease_seconds, _values(CLAIMABLE), KIE_PROVIDERS)
        claimed = [Job.from_row(row) for row in rows]
        room = min(kie_slots, limit - len(claimed))
        if room > 0:
            rows = await self._pool.fetch(_CLAIM_KIE_FAIRLY, room, lease_seconds, KIE_PROVIDERS)
            claimed.extend(Job.from_row(row) for row in rows)
        return claimed

    async def queue_clock(self) -> float:
        """Every KIE ticket up to this was sent (domain/fairness.py)."""
        value = await self._pool.fetchval("SELECT virtual_time FROM generator.fair_clock WHERE queue = 'kie'")
        return float(value or 0.0)

    async def publish_queue(self, event: Event) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await enqueue(conn, SCHEMA, event)

    async def seconds_until_next_due(self) -> float | None:
        value = await self._pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM min(due_at) - clock_timestamp()) FROM generator.jobs"
            " WHERE state = ANY($1::text[])",
            _values(CLAIMABLE),
        )
        return None if value is None else max(float(value), 0.0)

    async def renew(self, asset_ids: list[UUID], lease_seconds: float) -> None:
        if asset_ids:
            await self._pool.execute(
                "UPDATE generator.jobs SET lease_until = clock_timestamp() + make_interval(secs => $2)"
                " WHERE asset_id = ANY($1::uuid[]) AND state = ANY($3::text[])",
                asset_ids,
                lease_seconds,
                _values(OPEN),
            )

    async def start(self, job: Job, provider: Provider, waste: dict[str, Any] | None = None) -> bool:
        """Committed before the paid request leaves: from here on, a crash leaves the job in doubt."""
        # A KIE request about to leave moves the fair queue's clock to its tag: the clock counts what
        # was sent, not what was claimed (a claim that finds no slot after all goes back unsent).
        started = await self._pool.fetchval(
            "WITH started AS (UPDATE generator.jobs SET state = 'submitting', provider = $2,"
            "   submit_started_at = clock_timestamp(), gemini_calls = gemini_calls + CASE WHEN $3 THEN 1 ELSE 0 END,"
            "   wasted = CASE WHEN $4::jsonb IS NULL THEN wasted ELSE wasted || $4::jsonb END"
            "   WHERE asset_id = $1 AND state = ANY($5::text[]) RETURNING fair_tag),"
            " clock AS (UPDATE generator.fair_clock SET virtual_time = GREATEST(virtual_time, started.fair_tag)"
            "   FROM started WHERE queue = 'kie' AND NOT $3 AND virtual_time < started.fair_tag)"
            " SELECT true FROM started",
            job.asset_id,
            provider.value,
            not is_kie(provider),
            json.dumps([waste]) if waste else None,
            _values(STARTABLE),
        )
        return bool(started)

    async def retry_at(self, job: Job, at: datetime, *, unbilled_gemini_call: bool) -> bool:
        """A refusal: nothing was billed; the job waits in the table until `at`."""
        moved = await self._pool.fetchval(
            "UPDATE generator.jobs SET state = 'waiting', due_at = $2, lease_until = NULL, attempts = attempts + 1,"
            " gemini_calls = gemini_calls - CASE WHEN $3 THEN 1 ELSE 0 END, submit_started_at = NULL"
            " WHERE asset_id = $1 AND state IN ('claimed', 'submitting') RETURNING true",
            job.asset_id,
            at,
            unbilled_gemini_call,
        )
        return bool(moved)

    async def postpone(self, job: Job, at: datetime) -> None:
        """No KIE slot after all (another replica took it): wait, without counting an attempt."""
        await self._pool.execute(
            "UPDATE generator.jobs SET state = CASE WHEN state = 'claimed' THEN 'waiting' ELSE state END,"
            " due_at = $2, lease_until = NULL WHERE asset_id = $1 AND state IN ('claimed', 'in_doubt')",
            job.asset_id,
            at,
        )

    async def doubt(self, job: Job) -> bool:
        """The paid request may have reached the provider: wait for its callback instead."""
        moved = await self._pool.fetchval(
            "UPDATE generator.jobs SET state = 'in_doubt', in_doubt_since = clock_timestamp(),"
            " due_at = clock_timestamp(), lease_until = NULL"
            " WHERE asset_id = $1 AND state = 'submitting' RETURNING true",
            job.asset_id,
        )
        return bool(moved)

    async def wait_in_doubt(self, job: Job, until: datetime) -> None:
        await self._pool.execute(
            "UPDATE generator.jobs SET due_at = $2, lease_until = NULL WHERE asset_id = $1 AND state = 'in_doubt'",
            job.asset_id,
            until,
        )

    async def record_task(self, job: Job, event: TaskStarted) -> bool:
        """The provider's task id, the moment it is known (unless the job moved to another provider)."""
        return await self._finish(
            job.asset_id,
            (JobState.SUBMITTING, JobState.IN_DOUBT),
            JobState.SUBMITTED,
            event,
            task_id=event.task_id,
            provider=event.provider,
        )

    async def hold(self, job: Job) -> bool:
        """Back from `submitting` to `claimed` after a definite answer: nothing is in flight."""
        held = await self._pool.fetchval(
            "UPDATE generator.jobs SET state = 'claimed', submit_started_at = NULL"
            " WHERE asset_id = $1 AND state = 'submitting' RETURNING true",
            job.asset_id,
        )
        return bool(held)

    async def complete(self, job: Job, event: Event) -> bool:
        return await self._finish(job.asset_id, (JobState.SUBMITTING,), JobState.COMPLETED, event)

    async def fail(self, job: Job, reason: str, *events: Event) -> bool:
        """The job ends failed with one event per asset it makes (a batch's every variant); an
        asset cancelled meanwhile is settled already and gets none."""
        return await self._finish(
            job.asset_id, tuple(OPEN), JobState.FAILED, *events, failure_reason=reason, skip_cancelled=True
        )

    async def cancel(self, event: GenerationCancelled) -> VariantCancelled | None:
        """The user cancelled one asset: it is marked cancelled on the job that makes it, and the job
        ends `failed` (cancelled) once none of its assets is wanted, so no further paid request
        leaves for it (domain/variants.py). An asset not seen yet gets a tombstone (a failed row
        without its request), which the request that arrives later finds (`enqueue`)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_assets(conn, [event.asset_id])
            row = await conn.fetchrow(
                "SELECT asset_id, state, request, variant_asset_ids, cancelled_asset_ids, task_id FROM generator.jobs"
                " WHERE (asset_id = $1 AND request IS NOT NULL) OR variant_asset_ids @> ARRAY[$1::uuid]"
                " ORDER BY asset_id = $1 DESC LIMIT 1 FOR UPDATE",
                event.asset_id,
            )
            if row is None:
                await conn.execute(
                    "INSERT INTO generator.jobs (asset_id, user_id, requested_provider, provider, media_type, state,"
                    " failure_reason, finished_at) VALUES ($1, $2, $3, $3, $4, 'failed', $5, clock_timestamp())"
                    " ON CONFLICT (asset_id) DO NOTHING",
                    event.asset_id,
                    event.user_id,
                    event.provider.value,
                    event.media_type.value,
                    FailureReason.CANCELLED.value,
                )
                return VariantCancelled(Variants((event.asset_id,), frozenset({event.asset_id})), None)
            variants = Variants.of(row["asset_id"], row["variant_asset_ids"], row["cancelled_asset_ids"] or ())
            move = cancel_asset(JobState(row["state"]), variants, event.asset_id, task_id=row["task_id"])
            if move is None:
                return None
            await conn.execute(
                "UPDATE generator.jobs SET cancelled_asset_ids = $2,"
                " state = CASE WHEN $3 THEN 'failed' ELSE state END,"
                " failure_reason = CASE WHEN $3 THEN $4 ELSE failure_reason END,"
                " lease_until = CASE WHEN $3 THEN NULL ELSE lease_until END,"
                " finished_at = CASE WHEN $3 THEN clock_timestamp() ELSE finished_at END WHERE asset_id = $1",
                row["asset_id"],
                sorted(move.variants.cancelled),
                move.job is not None,
                FailureReason.CANCELLED.value,
            )
            return move

    async def find(self, asset_id: UUID) -> Job | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM generator.jobs WHERE asset_id = $1", asset_id)
        return Job.from_row(row) if row and row["request"] is not None else None

    async def adopt(
        self, asset_id: UUID, task_id: str, started: Callable[[Job, str], TaskStarted]
    ) -> TaskStarted | None:
        """A KIE callback names the task of a job whose submission is in doubt: record it, so the
        poller follows it and the paid result reaches the user. None when there is nothing to adopt."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM generator.jobs WHERE asset_id = $1 FOR UPDATE", asset_id)
            if row is None or row["request"] is None:
                return None
            job = Job.from_row(row)
            if not can_adopt(job.state, job.provider, job.task_id, job.failure_reason):
                return None
            event = started(job, task_id)
            await conn.execute(
                "UPDATE generator.jobs SET state = 'submitted', task_id = $2, failure_reason = NULL,"
                " lease_until = NULL, finished_at = NULL WHERE asset_id = $1",
                asset_id,
                task_id,
            )
            await enqueue(conn, SCHEMA, event)
            return event

    async def record_waste(self, asset_id: UUID, entry: dict[str, Any]) -> bool:
        """Paid work that delivered nothing; recorded once per task id."""
        recorded = await self._pool.fetchval(
            "UPDATE generator.jobs SET wasted = wasted || $2::jsonb"
            " WHERE asset_id = $1 AND NOT wasted @> $2::jsonb RETURNING true",
            asset_id,
            json.dumps([entry]),
        )
        return bool(recorded)

    async def _finish(
        self,
        asset_id: UUID,
        from_states: tuple[JobState, ...],
        state: JobState,
        *events: Event,
        task_id: str | None = None,
        failure_reason: str | None = None,
        provider: Provider | None = None,
        skip_cancelled: bool = False,
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            cancelled = await conn.fetchval(
                "UPDATE generator.jobs SET state = $2, task_id = COALESCE($3, task_id), failure_reason = $4,"
                " lease_until = NULL,"
                " finished_at = CASE WHEN $2 IN ('completed', 'failed') THEN clock_timestamp() END"
                " WHERE asset_id = $1 AND state = ANY($5::text[]) AND ($6::text IS NULL OR provider = $6)"
                " RETURNING cancelled_asset_ids",
                asset_id,
                state.value,
                task_id,
                failure_reason,
                _values(from_states),
                provider.value if provider else None,
            )
            if cancelled is None:
                return False
            told = [e for e in events if not (skip_cancelled and getattr(e, "asset_id", None) in cancelled)]
            if told:
                await enqueue(conn, SCHEMA, *told)
            return True

"""The generator's job table: the claim that precedes every paid call, and the recorded outcomes.

State changes are conditional (`WHERE state = …`), so two replicas racing on a redelivered
request can never both move a job forward; each outcome is written with its event (outbox).
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from aistudio_contracts import Event, GenerationRequested, Provider
from aistudio_runtime import Database, enqueue

SCHEMA = "generator"


@dataclass(frozen=True, slots=True)
class Job:
    asset_id: UUID
    state: str
    provider: Provider
    task_id: str | None
    claimed_at: datetime
    submit_started_at: datetime | None
    age_seconds: float
    is_new: bool = False


class Jobs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, request: GenerationRequested) -> Job:
        """Insert the job as claimed, or return the job a previous delivery left behind."""
        row = await self._db.pool.fetchrow(
            "WITH inserted AS ("
            "  INSERT INTO generator.jobs (asset_id, user_id, requested_provider, provider, media_type, state)"
            "  VALUES ($1, $2, $3, $3, $4, 'claimed') ON CONFLICT (asset_id) DO NOTHING"
            "  RETURNING asset_id, state, provider, task_id, claimed_at, submit_started_at, true AS is_new)"
            " SELECT *, 0.0::float8 AS age FROM inserted"
            " UNION ALL"
            " SELECT asset_id, state, provider, task_id, claimed_at, submit_started_at, false,"
            "   EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(submit_started_at, claimed_at))::float8"
            " FROM generator.jobs WHERE asset_id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)",
            request.asset_id,
            request.user_id,
            request.provider.value,
            request.media_type.value,
        )
        assert row is not None
        return Job(
            asset_id=row["asset_id"],
            state=row["state"],
            provider=Provider(row["provider"]),
            task_id=row["task_id"],
            claimed_at=row["claimed_at"],
            submit_started_at=row["submit_started_at"],
            age_seconds=row["age"],
            is_new=row["is_new"],
        )

    async def take_over(self, job: Job) -> bool:
        """Take a job nobody holds (waiting), or whose worker went away before sending anything."""
        taken = await self._db.pool.fetchval(
            "UPDATE generator.jobs SET state = 'claimed', claimed_at = clock_timestamp()"
            " WHERE asset_id = $1 AND state = $2 AND claimed_at = $3 RETURNING true",
            job.asset_id,
            job.state,
            job.claimed_at,
        )
        return bool(taken)

    async def touch(self, asset_id: UUID) -> None:
        """Keep a claim fresh while it waits for a rate-limit slot."""
        await self._db.pool.execute(
            "UPDATE generator.jobs SET claimed_at = clock_timestamp() WHERE asset_id = $1 AND state = 'claimed'",
            asset_id,
        )

    async def start_submission(self, asset_id: UUID, provider: Provider) -> bool:
        """Record, committed, that a paid request is about to be sent. False if another worker did."""
        started = await self._db.pool.fetchval(
            "UPDATE generator.jobs SET state = 'submitting', provider = $2, submit_started_at = clock_timestamp()"
            " WHERE asset_id = $1 AND state = 'claimed' RETURNING true",
            asset_id,
            provider.value,
        )
        return bool(started)

    async def release(self, asset_id: UUID) -> None:
        """The request was refused before any work began: nothing is in flight, any worker may retry."""
        await self._db.pool.execute(
            "UPDATE generator.jobs SET state = 'waiting', submit_started_at = NULL"
            " WHERE asset_id = $1 AND state IN ('claimed', 'submitting')",
            asset_id,
        )

    async def hold_again(self, asset_id: UUID) -> bool:
        """Back from `submitting` to `claimed` after a definite refusal, to try another provider."""
        held = await self._db.pool.fetchval(
            "UPDATE generator.jobs SET state = 'claimed', submit_started_at = NULL"
            " WHERE asset_id = $1 AND state = 'submitting' RETURNING true",
            asset_id,
        )
        return bool(held)

    async def finish(
        self,
        asset_id: UUID,
        *,
        from_states: tuple[str, ...],
        state: str,
        event: Event,
        task_id: str | None = None,
        failure_reason: str | None = None,
    ) -> bool:
        async with self._db.pool.acquire() as conn, conn.transaction():
            moved = await conn.fetchval(
                "UPDATE generator.jobs SET state = $2, task_id = COALESCE($3, task_id), failure_reason = $4,"
                " finished_at = CASE WHEN $2 IN ('completed', 'failed') THEN clock_timestamp() END"
                " WHERE asset_id = $1 AND state = ANY($5::text[]) RETURNING true",
                asset_id,
                state,
                task_id,
                failure_reason,
                list(from_states),
            )
            if moved:
                await enqueue(conn, SCHEMA, event)
            return bool(moved)

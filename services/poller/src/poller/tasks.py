"""The poller's task table. Claims use `FOR UPDATE SKIP LOCKED` plus a lease (`checking_until`),
so that replicas share due tasks and no task is checked by two at once, not even when a callback
asks for a check while one runs (`recheck`); outcomes are conditional on the task still pending,
so each produces exactly one event."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from aistudio_contracts import Event, MediaType, Provider, TaskStarted
from aistudio_runtime import Database, enqueue

SCHEMA = "poller"
WAKEUP_CHANNEL = "poller_wakeup"


@dataclass(frozen=True, slots=True)
class TrackedTask:
    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    prompt: str
    task_id: str
    checks: int
    consecutive_errors: int
    deadline_at: datetime


class Tasks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def track(self, event: TaskStarted, first_check_in: float, deadline_in: float) -> bool:
        inserted = await self._db.pool.fetchval(
            "INSERT INTO poller.tasks (asset_id, user_id, provider, media_type, prompt, task_id,"
            " next_check_at, deadline_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + make_interval(secs => $7), $8)"
            " ON CONFLICT (asset_id) DO NOTHING RETURNING true",
            event.asset_id,
            event.user_id,
            event.provider.value,
            event.media_type.value,
            event.prompt,
            event.task_id,
            first_check_in,
            event.occurred_at + timedelta(seconds=deadline_in),
        )
        if inserted:
            await self.wake()
        return bool(inserted)

    async def check_now(self, asset_id: UUID) -> bool:
        moved = await self._db.pool.fetchval(
            "UPDATE poller.tasks SET next_check_at = clock_timestamp(), recheck = checking_until IS NOT NULL"
            " WHERE asset_id = $1 AND state = 'pending' RETURNING true",
            asset_id,
        )
        if moved:
            await self.wake()
        return bool(moved)

    async def wake(self) -> None:
        await self._db.pool.execute("SELECT pg_notify($1, '')", WAKEUP_CHANNEL)

    async def claim_due(self, limit: int, lease_seconds: float) -> list[TrackedTask]:
        rows = await self._db.pool.fetch(
            "UPDATE poller.tasks SET checking_until = clock_timestamp() + make_interval(secs => $2),"
            " recheck = false, checks = checks + 1"
            " WHERE asset_id IN (SELECT asset_id FROM poller.tasks"
            "   WHERE state = 'pending' AND next_check_at <= clock_timestamp()"
            "   AND (checking_until IS NULL OR checking_until < clock_timestamp())"
            "   ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING asset_id, user_id, provider, media_type, prompt, task_id, checks, consecutive_errors,"
            " deadline_at",
            limit,
            lease_seconds,
        )
        return [
            TrackedTask(
                asset_id=row["asset_id"],
                user_id=row["user_id"],
                provider=Provider(row["provider"]),
                media_type=MediaType(row["media_type"]),
                prompt=row["prompt"],
                task_id=row["task_id"],
                checks=row["checks"],
                consecutive_errors=row["consecutive_errors"],
                deadline_at=row["deadline_at"],
            )
            for row in rows
        ]

    async def seconds_until_next_due(self) -> float | None:
        value = await self._db.pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM min(GREATEST(next_check_at, COALESCE(checking_until, next_check_at)))"
            " - clock_timestamp()) FROM poller.tasks WHERE state = 'pending'"
        )
        return None if value is None else max(float(value), 0.0)

    async def check_again(self, asset_id: UUID, in_seconds: float, *, error: str | None = None) -> None:
        await self._db.pool.execute(
            "UPDATE poller.tasks SET checking_until = NULL,"
            " next_check_at = CASE WHEN recheck THEN clock_timestamp()"
            "   ELSE clock_timestamp() + make_interval(secs => $2) END,"
            " consecutive_errors = CASE WHEN $3::text IS NULL THEN 0 ELSE consecutive_errors + 1 END,"
            " last_error = COALESCE($3, last_error)"
            " WHERE asset_id = $1 AND state = 'pending'",
            asset_id,
            in_seconds,
            error,
        )

    async def finish(self, asset_id: UUID, outcome: str, event: Event) -> bool:
        async with self._db.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE poller.tasks SET state = 'done', outcome = $2, finished_at = clock_timestamp(),"
                " checking_until = NULL"
                " WHERE asset_id = $1 AND state = 'pending' RETURNING true",
                asset_id,
                outcome,
            )
            if done:
                await enqueue(conn, SCHEMA, event)
            return bool(done)

"""The poller's task table, and the callbacks kept for tasks not tracked yet; this is their only writer.

Each method applies one transition of domain/task.py with a conditional update whose from-phases
are the transition's own (`_in`). Claims use `FOR UPDATE SKIP LOCKED` plus a lease
(`checking_until`, owned by one replica in `lease_owner`) so that replicas share due tasks and no
task is checked by two at once, not even when a callback asks for a check while one runs
(`recheck`). Outcomes produce their event in the same transaction, exactly once.
"""

from collections.abc import Collection, Iterable
from uuid import UUID

import asyncpg

from aistudio_contracts import Event, MediaType, Provider, TaskStarted, deadline_of
from aistudio_runtime import Database, enqueue, tracing

from . import metrics
from .domain.task import (
    CALLBACK_ARRIVED,
    CANCEL,
    CHECK_AGAIN,
    CLAIM,
    FINISHING,
    RENEW,
    TRACK_CANCELLED,
    CheckAgain,
    Outcome,
    Phase,
    TrackedTask,
    Transition,
    cancel_asset,
    first_check_in,
    task_assets,
    track_as,
)

SCHEMA = "poller"
WAKEUP_CHANNEL = "poller_wakeup"

__all__ = ["SCHEMA", "WAKEUP_CHANNEL", "Tasks", "TrackedTask"]

# How each phase is stored. `checking` is a pending row under a lease; to other replicas a lease that
# ran out is `pending` again (claimable), while its owner may still renew it or end its check until
# someone else claims the row (which changes `lease_owner`, so the owner's updates match nothing).
_PHASE_SQL = {
    Phase.PENDING: "(state = 'pending' AND (checking_until IS NULL OR checking_until < clock_timestamp()))",
    Phase.CHECKING: "(state = 'pending' AND checking_until IS NOT NULL)",
    Phase.DONE: "state = 'done'",
}
_LIVE = {Phase.PENDING, Phase.CHECKING}


def _in(transition: Transition) -> str:
    """The SQL condition "the row is in one of the transition's from-phases"."""
    sources = transition.sources
    if sources == _LIVE:
        return "state = 'pending'"  # both live phases: the lease does not matter
    return "(" + " OR ".join(_PHASE_SQL[phase] for phase in sorted(sources)) + ")"


async def _lock_asset(conn: asyncpg.Connection, asset_id: UUID) -> None:
    # Serialises track and an early callback for one asset, so neither misses the other's row.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))", str(asset_id))


async def _lock_assets(conn: asyncpg.Connection, asset_ids: Iterable[UUID]) -> None:
    # Every asset of a task, in one order: a cancel of any variant either finds the task or leaves
    # the note `track` then reads.
    for asset_id in sorted(set(asset_ids)):
        await _lock_asset(conn, asset_id)


def _task(row: asyncpg.Record) -> TrackedTask:
    return TrackedTask(
        asset_id=row["asset_id"],
        user_id=row["user_id"],
        provider=Provider(row["provider"]),
        media_type=MediaType(row["media_type"]),
        prompt=row["prompt"],
        task_id=row["task_id"],
        checks=row["checks"],
        consecutive_errors=row["consecutive_errors"],
        deadline_at=row["deadline_at"],
        result_found_at=row["result_found_at"],
        traceparent=row["traceparent"],
        variant_asset_ids=tuple(row["variant_asset_ids"] or ()),
        cancelled_asset_ids=frozenset(row["cancelled_asset_ids"] or ()),
    )


class Tasks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def track(self, event: TaskStarted, first_check: float, timeout_seconds: float) -> bool:
        """Start following a task, due after `first_check` seconds, or at once when its provider
        already called back. The deadline is the job's own (`deadline_of`)."""
        assets = task_assets(event.asset_id, event.variant_asset_ids)
        async with self._db.pool.acquire() as conn, conn.transaction():
            await _lock_assets(conn, assets)
            early = await conn.fetchval(
                "DELETE FROM poller.early_callbacks WHERE asset_id = $1 RETURNING true", event.asset_id
            )
            delay = first_check_in(first_check, adopted=event.adopted, early_callback=bool(early))
            # Assets cancelled before it was tracked: not delivered to; with all of them cancelled the
            # task is kept as done (cancelled), the paid task's record, never checked.
            noted = await conn.fetch(
                "DELETE FROM poller.cancelled_assets WHERE asset_id = ANY($1::uuid[]) RETURNING asset_id", assets
            )
            cancelled_assets = [row["asset_id"] for row in noted]
            cancelled = track_as(assets, cancelled_assets) is TRACK_CANCELLED
            inserted = await conn.fetchval(
                "INSERT INTO poller.tasks (asset_id, user_id, provider, media_type, prompt, task_id,"
                " next_check_at, deadline_at, state, outcome, finished_at, traceparent, variant_asset_ids,"
                " cancelled_asset_ids)"
                " VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + make_interval(secs => $7), $8,"
                "  CASE WHEN $9 THEN 'done' ELSE 'pending' END, CASE WHEN $9 THEN $10 END,"
                "  CASE WHEN $9 THEN clock_timestamp() END, $11, $12, $13)"
                " ON CONFLICT (asset_id) DO NOTHING RETURNING true",
                event.asset_id,
                event.user_id,
                event.provider.value,
                event.media_type.value,
                event.prompt,
                event.task_id,
                delay,
                deadline_of(event, timeout_seconds),
                bool(cancelled),
                Outcome.CANCELLED.value,
                tracing.current_traceparent(),  # the TaskStarted's trace: every check continues it
                event.variant_asset_ids,
                cancelled_assets,
            )
        if inserted and not cancelled:
            await self.wake()
        return bool(inserted) and not cancelled

    async def cancel(self, asset_id: UUID) -> bool:
        """The user cancelled an asset. Its task is no longer followed once none of the assets it
        makes is wanted (done, cancelled; no event: the catalog has settled the asset), and a check
        running now finds it done and delivers nothing; a 4o task with other variants still wanted
        goes on without delivering to this one (domain/task.py, `cancel_asset`). An asset whose
        task is not tracked yet is remembered for `track`. True when a tracked task was stopped."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            await _lock_asset(conn, asset_id)
            row = await conn.fetchrow(
                "SELECT asset_id, state, variant_asset_ids, cancelled_asset_ids FROM poller.tasks"
                " WHERE asset_id = $1 OR variant_asset_ids @> ARRAY[$1::uuid]"
                " ORDER BY asset_id = $1 DESC LIMIT 1 FOR UPDATE",
                asset_id,
            )
            if row is None:
                await conn.execute(
                    "INSERT INTO poller.cancelled_assets (asset_id) VALUES ($1) ON CONFLICT (asset_id) DO NOTHING",
                    asset_id,
                )
                return False
            assets = task_assets(row["asset_id"], row["variant_asset_ids"])
            transition = cancel_asset(assets, row["cancelled_asset_ids"] or (), asset_id)
            if transition is None:
                return False
            stopped = await conn.fetchval(
                "UPDATE poller.tasks SET cancelled_asset_ids = array_append(cancelled_asset_ids, $3),"
                " state = CASE WHEN $4 THEN 'done' ELSE state END,"
                " outcome = CASE WHEN $4 THEN $2 ELSE outcome END,"
                " finished_at = CASE WHEN $4 THEN clock_timestamp() ELSE finished_at END,"
                " checking_until = CASE WHEN $4 THEN NULL ELSE checking_until END,"
                " lease_owner = CASE WHEN $4 THEN NULL ELSE lease_owner END"
                f" WHERE asset_id = $1 AND {_in(transition)} RETURNING state = 'done'",
                row["asset_id"],
                Outcome.CANCELLED.value,
                asset_id,
                transition is CANCEL,
            )
        return bool(stopped)

    async def callback_arrived(self, asset_id: UUID, task_id: str | None) -> bool:
        """A pending task becomes due now; one being checked is checked again right after. A
        callback for a task not tracked yet is kept for `track`. True when a tracked task moved."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            await _lock_asset(conn, asset_id)
            moved = await conn.fetchval(
                "UPDATE poller.tasks SET next_check_at = clock_timestamp(), recheck = checking_until IS NOT NULL"
                f" WHERE asset_id = $1 AND {_in(CALLBACK_ARRIVED)} RETURNING true",
                asset_id,
            )
            if not moved:
                await conn.execute(
                    "INSERT INTO poller.early_callbacks (asset_id, task_id)"
                    " SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM poller.tasks WHERE asset_id = $1)"
                    " ON CONFLICT (asset_id) DO NOTHING",
                    asset_id,
                    task_id,
                )
        if moved:
            await self.wake()
        return bool(moved)

    async def wake(self) -> None:
        await self._db.pool.execute("SELECT pg_notify($1, '')", WAKEUP_CHANNEL)

    async def claim_due(
        self, limit: int, lease_seconds: float, owner: UUID, *, exclude: Collection[UUID] = ()
    ) -> list[TrackedTask]:
        """Due tasks for `owner` to check. `exclude`: what this replica is checking right now, so
        it never claims its own check again, even if that check's lease ran out."""
        rows = await self._db.pool.fetch(
            "UPDATE poller.tasks SET checking_until = clock_timestamp() + make_interval(secs => $2),"
            " lease_owner = $3, recheck = false, checks = checks + 1"
            " WHERE asset_id IN (SELECT asset_id FROM poller.tasks"
            f"   WHERE {_in(CLAIM)} AND next_check_at <= clock_timestamp()"
            "   AND NOT (asset_id = ANY($4::uuid[]))"
            "   ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING asset_id, user_id, provider, media_type, prompt, task_id, checks, consecutive_errors,"
            " deadline_at, result_found_at, traceparent, variant_asset_ids, cancelled_asset_ids",
            limit,
            lease_seconds,
            owner,
            list(exclude),
        )
        for row in rows:
            metrics.CHECKS.labels(row["provider"]).inc()
        return [_task(row) for row in rows]

    async def renew(self, asset_id: UUID, owner: UUID, lease_seconds: float) -> bool:
        """Extend `owner`'s lease while its check runs. False: the lease was lost (or the task ended)."""
        renewed = await self._db.pool.fetchval(
            "UPDATE poller.tasks SET checking_until = clock_timestamp() + make_interval(secs => $3)"
            f" WHERE asset_id = $1 AND lease_owner = $2 AND {_in(RENEW)} RETURNING true",
            asset_id,
            owner,
            lease_seconds,
        )
        return bool(renewed)

    async def seconds_until_next_due(self) -> float | None:
        value = await self._db.pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM min(GREATEST(next_check_at, COALESCE(checking_until, next_check_at)))"
            " - clock_timestamp()) FROM poller.tasks WHERE state = 'pending'"
        )
        return None if value is None else max(float(value), 0.0)

    async def check_again(self, asset_id: UUID, owner: UUID, decision: CheckAgain) -> bool:
        """End `owner`'s check without an outcome: due after the decision's delay (at once if a
        callback came meanwhile). A check whose lease was lost changes nothing."""
        updated = await self._db.pool.fetchval(
            "UPDATE poller.tasks SET checking_until = NULL, lease_owner = NULL,"
            " next_check_at = CASE WHEN recheck THEN clock_timestamp()"
            "   ELSE clock_timestamp() + make_interval(secs => $3) END,"
            " consecutive_errors = CASE WHEN $4::text IS NULL THEN 0 ELSE consecutive_errors + 1 END,"
            " last_error = COALESCE($4, last_error),"
            " result_found_at = CASE WHEN $5 THEN COALESCE(result_found_at, clock_timestamp())"
            "   ELSE result_found_at END"
            f" WHERE asset_id = $1 AND lease_owner = $2 AND {_in(CHECK_AGAIN)} RETURNING true",
            asset_id,
            owner,
            decision.delay,
            decision.error,
            decision.result_found,
        )
        return bool(updated)

    async def finish(self, asset_id: UUID, outcome: Outcome, *events: Event) -> bool:
        """The task's one outcome and its events, in one transaction; False if it had ended already.
        An asset cancelled while the check ran (a 4o variant) gets no event: it is settled already."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchrow(
                "UPDATE poller.tasks SET state = 'done', outcome = $2, finished_at = clock_timestamp(),"
                " checking_until = NULL, lease_owner = NULL"
                f" WHERE asset_id = $1 AND {_in(FINISHING[outcome])} RETURNING provider, checks, cancelled_asset_ids",
                asset_id,
                outcome.value,
            )
            if done is None:
                return False
            cancelled = set(done["cancelled_asset_ids"] or ())
            wanted = [event for event in events if getattr(event, "asset_id", None) not in cancelled]
            if wanted:
                await enqueue(conn, SCHEMA, *wanted)  # one per asset the task delivers to
        metrics.TASKS_FINISHED.labels(done["provider"], outcome.value).inc()
        metrics.CHECKS_PER_TASK.labels(done["provider"]).observe(done["checks"])
        return True

"""The media catalog in Postgres: the gateway's own `gateway.media_assets`.

The catalog is the one authority on a generation's outcome (see domain/lifecycle.py): each
move is a conditional update whose from-statuses come from the lifecycle, handled once per
event (inbox), and a move that settles the outcome writes GenerationSettled to the outbox in
the same transaction. Each change is appended to `asset_changes` and announced with NOTIFY
for the live views.
"""

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from aistudio_contracts import (
    AssetStatus,
    CaptionFailed,
    CaptionGenerated,
    FailureReason,
    GenerationCancelled,
    GenerationCompleted,
    GenerationRequested,
    GenerationSettled,
    MediaType,
    Plan,
    Provider,
    ProviderCallbackReceived,
    QueueAdvanced,
    QueueJoined,
    TaskStarted,
)
from aistudio_runtime import Database, enqueue, first_delivery, tracing
from aistudio_runtime.outbox import channel_for

from .domain import lifecycle
from .domain.requests import GenerationSpec
from .usage_client import UsageUnavailable

SCHEMA = "gateway"
CHANGES_CHANNEL = "gateway_asset_changes"
# The payload on CHANGES_CHANNEL when a provider queue moved (a change is "seq:user_id").
QUEUE_MOVED = "queue"

ASSET_COLUMNS = (
    "id, user_id, provider, requested_provider, type, prompt, reference_image_url, aspect_ratio, status,"
    " provider_task_id, result_storage_key, result_content_type, result_origin_url, error_code, error_message,"
    " caption, caption_status, idempotency_key, request_hash, created_at, updated_at, completed_at,"
    " model, style, template_id, batch_id, batch_index, parent_id, task_started_at, queue_typical_seconds"
)


def queue_figures(table: str) -> str:
    """A waiting KIE job's place, counted on read from the tickets ahead of it (aistudio_contracts.queue),
    with the queue's pace: a `queue` column (position, next_slot_at, slots_per_cycle, cycle_seconds,
    typical_seconds), NULL once it was sent or if it never waited. `table` names the asset row."""
    return (
        "(SELECT ROW((SELECT 1 + count(*) FROM gateway.media_assets ahead"
        "   WHERE ahead.status = 'processing' AND ahead.provider_task_id IS NULL AND ahead.queue_ticket IS NOT NULL"
        "   AND ahead.queue_ticket > q.served_through"
        f"   AND (ahead.queue_ticket, ahead.created_at) < ({table}.queue_ticket, {table}.created_at)),"
        f"   q.next_slot_at, q.slots_per_cycle, q.cycle_seconds, {table}.queue_typical_seconds)"
        f" FROM gateway.provider_queues q WHERE q.queue = 'kie' AND {table}.status = 'processing'"
        f" AND {table}.provider_task_id IS NULL AND {table}.queue_ticket > q.served_through) AS queue"
    )


QUEUE_FIGURES = queue_figures("media_assets")


_OUTCOMES: dict[AssetStatus, Literal["ready", "error", "cancelled"]] = {
    AssetStatus.READY: "ready",
    AssetStatus.ERROR: "error",
    AssetStatus.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What a user's cancel found: no asset of theirs (`asset` None), or the asset as it now is,
    `cancelled` telling whether this cancel ended it (False: it had ended already)."""

    asset: asyncpg.Record | None
    cancelled: bool


@dataclass(frozen=True, slots=True)
class GalleryPage:
    assets: list[asyncpg.Record]
    next_cursor: str | None


def encode_cursor(created_at: datetime, asset_id: UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), str(asset_id)]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValueError for anything that is not a cursor we issued."""
    try:
        created_at, asset_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), UUID(asset_id)
    except Exception as exc:
        raise ValueError("invalid cursor") from exc


# A gateway started before any usage service migrated its schema (a fresh system coming up).
_USAGE_NOT_MIGRATED = (asyncpg.UndefinedFunctionError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedTableError)


class QuotaRefused(Exception):
    """The free plan's monthly limit is reached: nothing was stored."""

    def __init__(self, limit: int | None) -> None:
        super().__init__(f"monthly limit {limit} reached")
        self.limit = limit


def _check_units(outcome: str, limit: int | None) -> None:
    """usage.reserve_units' answer, when it is not 'granted' (and so nothing was stored)."""
    if outcome == "refused":
        raise QuotaRefused(limit)
    if outcome != "granted":
        raise UsageUnavailable("no quota rule yet: the usage service has not started once")


class Catalog:
    """The only writer of `gateway.media_assets`; each method is one named move of the lifecycle."""

    def __init__(self, db: Database, *, generation_timeout_seconds: float) -> None:
        self._db = db
        self._timeout_seconds = generation_timeout_seconds

    @property
    def pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def find(self, user_id: str, asset_id: UUID) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {ASSET_COLUMNS}, {QUEUE_FIGURES} FROM gateway.media_assets WHERE id = $1 AND user_id = $2",
            asset_id,
            user_id,
        )

    async def acceptance(self, asset_ids: list[UUID]) -> list[asyncpg.Record]:
        """When each asset was accepted, its provider and type (for the settlement metrics)."""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            "SELECT id, provider, type, created_at FROM gateway.media_assets WHERE id = ANY($1::uuid[])", asset_ids
        )
        return rows

    async def find_by_idempotency_key(self, user_id: str, key: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE user_id = $1 AND idempotency_key = $2",
            user_id,
            key,
        )

    def new_deadline(self) -> datetime:
        """The one deadline of a job accepted now; every service works to it."""
        return datetime.now(UTC) + timedelta(seconds=self._timeout_seconds)

    async def create(
        self,
        asset_id: UUID,
        user_id: str,
        spec: GenerationSpec,
        idempotency_key: str | None,
        deadline_at: datetime,
        input_image_url: str | None = None,
    ) -> asyncpg.Record | None:
        """Take the asset's unit of quota and store the asset with its GenerationRequested, in one
        statement (atomic on its own): both or neither, so no unit is ever held for an asset that was
        not stored. None if the request was stored meanwhile (the same Idempotency-Key); raises
        QuotaRefused at the free limit and UsageUnavailable before usage has ever started.
        The request carries the plan the unit was taken under: the model follows it.
        An edit (`spec.parent_id`) sends `input_image_url`, our signed link of the parent, as the request's
        reference image; the asset itself keeps only its parent's id."""
        event = GenerationRequested(
            correlation_id=asset_id,
            asset_id=asset_id,
            user_id=user_id,
            provider=spec.provider,
            media_type=spec.media_type,
            prompt=spec.provider_prompt,
            aspect_ratio=spec.aspect_ratio,
            reference_image_url=input_image_url or spec.reference_image_url,
            deadline_at=deadline_at,
            plan=Plan.FREE,
            style=spec.style,
            parent_asset_id=spec.parent_id,
            input_image_key=spec.parent_storage_key,
        )
        # The hot path of every accepted request, so one statement: the unit (usage's function), the
        # asset, its event in the outbox (as the free or the pro plan's, whichever the unit was taken
        # under), the change for live views, and the two wake-ups.
        try:
            row = await self.pool.fetchrow(
                "WITH units AS (SELECT outcome, plan, free_limit FROM usage.reserve_units(ARRAY[$1::uuid], $2, $15)),"
                " asset AS ("
                "  INSERT INTO gateway.media_assets (id, user_id, provider, requested_provider, type, prompt,"
                "  reference_image_url, aspect_ratio, idempotency_key, request_hash, deadline_at, style, template_id,"
                "  parent_id)"
                "  SELECT $1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $15, $16, $17, $19 FROM units"
                # No ON CONFLICT: a conflict aborts the statement, the unit with it.
                f"  WHERE units.outcome = 'granted' RETURNING {ASSET_COLUMNS}),"
                # The request's trace goes with the event (see aistudio_runtime.tracing).
                " queued AS (INSERT INTO gateway.outbox (event_id, subject, payload, traceparent)"
                "  SELECT $10, $11, CASE WHEN units.plan = 'pro' THEN $20::bytea ELSE $12::bytea END, $18"
                "  FROM asset JOIN units ON true RETURNING id),"
                # The user's next change number, under their counter's row lock (see feed.py).
                " feed AS (INSERT INTO gateway.user_feeds AS f (user_id, seq) SELECT user_id, 1 FROM asset"
                "  ON CONFLICT (user_id) DO UPDATE SET seq = f.seq + 1 RETURNING user_id, seq),"
                " change AS (INSERT INTO gateway.asset_changes (user_id, seq, asset_id)"
                "  SELECT feed.user_id, feed.seq, asset.id FROM feed JOIN asset ON true RETURNING seq, user_id),"
                " woken AS (SELECT pg_notify($13, ''), pg_notify($14, change.seq || ':' || change.user_id)"
                "  FROM change JOIN queued ON true)"
                " SELECT units.outcome AS units_outcome, units.free_limit AS units_limit, asset.*"
                " FROM units LEFT JOIN asset ON true LEFT JOIN woken ON true",
                asset_id,
                user_id,
                spec.provider.value,
                spec.media_type.value,
                spec.prompt,
                spec.reference_image_url,
                spec.aspect_ratio,
                idempotency_key,
                spec.fingerprint(),
                event.event_id,
                event.subject,
                event.to_json(),
                channel_for(SCHEMA),
                CHANGES_CHANNEL,
                event.deadline_at,
                spec.style,
                spec.template_id,
                tracing.current_traceparent(),
                spec.parent_id,
                event.model_copy(update={"plan": Plan.PRO}).to_json(),
            )
        except asyncpg.UniqueViolationError:  # its unit or its asset exists: nothing was written
            return None
        except _USAGE_NOT_MIGRATED as exc:
            raise UsageUnavailable("usage's schema is not there yet: the usage service has not started once") from exc
        assert row is not None  # `units` always has its one row
        _check_units(row["units_outcome"], row["units_limit"])
        return row

    async def create_batch(
        self,
        asset_ids: list[UUID],
        batch_id: UUID,
        user_id: str,
        spec: GenerationSpec,
        idempotency_key: str | None,
        deadline_at: datetime,
    ) -> list[asyncpg.Record] | None:
        """Store the variants of one request together (one transaction), each an asset of its own
        that is settled on its own. 4o Image makes them all in one paid task, so only the first
        asset gets a GenerationRequested, naming every asset of the batch (result i → asset i);
        the other providers get one request per variant. The Idempotency-Key is kept on the first.
        Every variant's unit is taken in the same transaction, all or none (usage.reserve_units).
        None if the key was taken meanwhile; QuotaRefused and UsageUnavailable as `create`."""
        one_task = spec.provider is Provider.KIE_4O_IMAGE
        try:
            return await self._store_batch(asset_ids, batch_id, user_id, spec, idempotency_key, deadline_at, one_task)
        except asyncpg.UniqueViolationError:  # a concurrent request with the same key stored it first
            return None
        except _USAGE_NOT_MIGRATED as exc:
            raise UsageUnavailable("usage's schema is not there yet: the usage service has not started once") from exc

    async def _store_batch(
        self,
        asset_ids: list[UUID],
        batch_id: UUID,
        user_id: str,
        spec: GenerationSpec,
        idempotency_key: str | None,
        deadline_at: datetime,
        one_task: bool,
    ) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            units = await conn.fetchrow(
                "SELECT outcome, plan, free_limit FROM usage.reserve_units($1::uuid[], $2, $3)",
                asset_ids,
                user_id,
                deadline_at,
            )
            assert units is not None
            _check_units(units["outcome"], units["free_limit"])  # raising undoes the transaction
            plan = Plan(units["plan"])
            events = [
                GenerationRequested(
                    correlation_id=asset_id,
                    asset_id=asset_id,
                    user_id=user_id,
                    provider=spec.provider,
                    media_type=spec.media_type,
                    prompt=spec.provider_prompt,
                    aspect_ratio=spec.aspect_ratio,
                    reference_image_url=spec.reference_image_url,
                    deadline_at=deadline_at,
                    plan=plan,
                    style=spec.style,
                    batch_id=batch_id,
                    variant_asset_ids=asset_ids if one_task else None,
                )
                for asset_id in (asset_ids[:1] if one_task else asset_ids)
            ]
            for index, asset_id in enumerate(asset_ids):
                # No ON CONFLICT: a conflict (the same key's batch, stored first) undoes it all, units too.
                row = await conn.fetchrow(
                    "INSERT INTO gateway.media_assets (id, user_id, provider, requested_provider, type, prompt,"
                    " reference_image_url, aspect_ratio, idempotency_key, request_hash, deadline_at, style,"
                    " template_id, batch_id, batch_index)"
                    " VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    f" RETURNING {ASSET_COLUMNS}",
                    asset_id,
                    user_id,
                    spec.provider.value,
                    spec.media_type.value,
                    spec.prompt,
                    spec.reference_image_url,
                    spec.aspect_ratio,
                    idempotency_key if index == 0 else None,
                    spec.fingerprint(),
                    deadline_at,
                    spec.style,
                    spec.template_id,
                    batch_id,
                    index,
                )
                assert row is not None
                rows.append(row)
            await enqueue(conn, SCHEMA, *events)
            for row in rows:
                await self.record_change(conn, user_id, row["id"])
        return rows

    async def batch(self, user_id: str, batch_id: UUID) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE batch_id = $1 AND user_id = $2"
            " ORDER BY batch_index",
            batch_id,
            user_id,
        )
        return rows

    async def gallery(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: tuple[datetime, UUID] | None = None,
        media_type: str | None = None,
        status: str | None = None,
    ) -> GalleryPage:
        clauses = ["user_id = $1"]
        args: list[Any] = [user_id]
        if media_type:
            args.append(media_type)
            clauses.append(f"type = ${len(args)}")
        if status:
            args.append(status)
            clauses.append(f"status = ${len(args)}")
        if cursor:
            args.extend(cursor)
            clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        rows = await self.pool.fetch(
            f"SELECT {ASSET_COLUMNS}, {QUEUE_FIGURES} FROM gateway.media_assets WHERE {' AND '.join(clauses)}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more and page else None
        return GalleryPage(page, next_cursor)

    async def join_queue(self, event: QueueJoined) -> bool:
        """A job began waiting for KIE's limit: keep its ticket, its place is counted on read."""
        async with self._once("queue-joined", event.event_id) as conn:
            if conn is None:
                return False
            row = await conn.fetchrow(
                "UPDATE gateway.media_assets SET queue_ticket = $2, queue_typical_seconds = $3, updated_at = now()"
                " WHERE id = $1 AND status = 'processing' AND provider_task_id IS NULL RETURNING id, user_id",
                event.asset_id,
                event.ticket,
                event.typical_seconds,
            )
            return await self._changed(conn, row)

    async def advance_queue(self, event: QueueAdvanced) -> bool:
        """Where the queue stands now; an older report (another replica's, or redelivered) is ignored."""
        moved = await self.pool.fetchval(
            "INSERT INTO gateway.provider_queues AS q"
            " (queue, served_through, next_slot_at, slots_per_cycle, cycle_seconds, advanced_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (queue) DO UPDATE SET"
            " served_through = EXCLUDED.served_through, next_slot_at = EXCLUDED.next_slot_at,"
            " slots_per_cycle = EXCLUDED.slots_per_cycle, cycle_seconds = EXCLUDED.cycle_seconds,"
            " advanced_at = EXCLUDED.advanced_at WHERE q.advanced_at < EXCLUDED.advanced_at RETURNING true",
            event.queue,
            event.served_through,
            event.next_slot_at,
            event.slots_per_cycle,
            event.cycle_seconds,
            event.occurred_at,
        )
        if moved:  # every open page with a waiting asset shows its new place (feed.py)
            await self.pool.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, QUEUE_MOVED)
        return bool(moved)

    async def record_task(self, event: TaskStarted) -> bool:
        """The provider accepted a task for a processing asset (shown; settles nothing)."""
        async with self._once("task-started", event.event_id) as conn:
            if conn is None:
                return False
            # A 4o batch's one task is every variant's task.
            rows = await conn.fetch(
                "UPDATE gateway.media_assets SET provider_task_id = $2, provider = $3,"
                " model = COALESCE($5, model), updated_at = now(), task_started_at = COALESCE(task_started_at, $6)"
                " WHERE id = ANY($1::uuid[]) AND status = ANY($4::text[]) RETURNING id, user_id",
                event.variant_asset_ids or [event.asset_id],
                event.task_id,
                event.provider.value,
                lifecycle.RECORD_TASK.from_values,
                event.model,
                event.occurred_at,  # when the provider took it, not when this consumer got to it
            )
            for row in sorted(rows, key=lambda row: row["id"]):
                await self.record_change(conn, row["user_id"], row["id"])
            return bool(rows)

    async def complete(self, event: GenerationCompleted) -> lifecycle.Move | None:
        """Media is in our custody: the asset becomes ready (late, and then uncharged, if it had failed)."""
        async with self._once("generation-completed", event.event_id) as conn:
            if conn is None:
                return None
            move = await self._move_for(conn, event.asset_id, lifecycle.completion_from)
            if move is None:
                return None
            row = await conn.fetchrow(
                "UPDATE gateway.media_assets SET status = $8, provider = $2,"
                " provider_task_id = COALESCE($3, provider_task_id), result_storage_key = $4,"
                " result_content_type = $5, result_origin_url = $6, completed_at = $7, updated_at = now(),"
                " error_code = NULL, error_message = NULL, charged = $9, delivered_late = $10,"
                # The maker's model when the completion names one (Gemini, a fallback); else the task's.
                " model = COALESCE($13, model),"
                " caption_status = CASE WHEN caption_status = ANY($11::text[]) THEN 'pending' ELSE caption_status END"
                " WHERE id = $1 AND status = ANY($12::text[]) RETURNING id, user_id",
                event.asset_id,
                event.provider.value,
                event.task_id,
                event.media.storage_key,
                event.media.content_type,
                event.media.origin_url,
                event.occurred_at,
                move.to.value,
                move.charged,
                move.late,
                lifecycle.values(lifecycle.CAPTION_PENDING_FROM),
                move.from_values,
                event.model,
            )
            return await self._settled(conn, row, move, reason=None)

    async def fail(
        self, asset_id: UUID, reason: FailureReason, message: str, *, consumer: str, event_id: UUID
    ) -> lifecycle.Move | None:
        """The generation ended without media: the asset shows the error and its unit goes back."""
        async with self._once(consumer, event_id) as conn:
            if conn is None:
                return None
            return await self._fail(conn, asset_id, reason, message)

    async def cancel(self, user_id: str, asset_id: UUID) -> Cancellation:
        """The user stops their processing asset: it ends cancelled and uncharged, and the services
        doing its work are told (GenerationCancelled) in the same transaction. Decided under the
        row's lock, so a completion racing it either came first (the cancel is too late) or finds
        the asset cancelled and changes nothing."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.fetchval(
                "SELECT status FROM gateway.media_assets WHERE id = $1 AND user_id = $2 FOR UPDATE",
                asset_id,
                user_id,
            )
            if status is None:
                return Cancellation(None, cancelled=False)
            move = lifecycle.cancel_from(AssetStatus(status))
            if move is None:
                row = await conn.fetchrow(f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE id = $1", asset_id)
                return Cancellation(row, cancelled=False)
            row = await conn.fetchrow(
                "UPDATE gateway.media_assets SET status = $2, charged = $3, completed_at = now(), updated_at = now()"
                f" WHERE id = $1 AND status = ANY($4::text[]) RETURNING {ASSET_COLUMNS}",
                asset_id,
                move.to.value,
                move.charged,
                move.from_values,
            )
            assert row is not None  # the row is locked and was processing
            cancelled = GenerationCancelled(
                correlation_id=asset_id,
                asset_id=asset_id,
                user_id=user_id,
                provider=Provider(row["provider"]),
                media_type=MediaType(row["type"]),
                task_id=row["provider_task_id"],
            )
            await enqueue(conn, SCHEMA, cancelled)
            await self._settled(conn, row, move, reason=None)
            return Cancellation(row, cancelled=True)

    async def expire_overdue(self, grace: timedelta, reason: FailureReason, message: str, limit: int = 200) -> int:
        """Fail what is still processing past its deadline plus `grace` (the catalog's own backstop).
        One transaction per asset: each locks its user's change counter, and replicas sweep at once."""
        overdue = await self.pool.fetch(
            "SELECT id FROM gateway.media_assets WHERE status = 'processing'"
            " AND COALESCE(deadline_at, created_at + make_interval(secs => $2)) < now() - $1::interval"
            " ORDER BY created_at LIMIT $3",
            grace,
            self._timeout_seconds,
            limit,
        )
        failed = 0
        for row in overdue:
            async with self.pool.acquire() as conn, conn.transaction():
                failed += await self._fail(conn, row["id"], reason, message) is not None
        return failed

    async def caption_generated(self, event: CaptionGenerated) -> bool:
        async with self._once("caption-generated", event.event_id) as conn:
            if conn is None:
                return False
            row = await conn.fetchrow(
                "UPDATE gateway.media_assets SET caption = $2, caption_status = 'ready', caption_at = $4,"
                " updated_at = now()"
                " WHERE id = $1 AND caption_status = ANY($3::text[]) AND (caption_at IS NULL OR caption_at < $4)"
                " RETURNING id, user_id",
                event.asset_id,
                event.caption,
                lifecycle.values(lifecycle.CAPTION_READY_FROM),
                event.occurred_at,
            )
            return await self._changed(conn, row)

    async def caption_failed(self, event: CaptionFailed) -> bool:
        async with self._once("caption-failed", event.event_id) as conn:
            if conn is None:
                return False
            row = await conn.fetchrow(
                "UPDATE gateway.media_assets SET caption_status = 'failed', updated_at = now()"
                " WHERE id = $1 AND caption_status = ANY($2::text[]) RETURNING id, user_id",
                event.asset_id,
                lifecycle.values(lifecycle.CAPTION_FAILED_FROM),
            )
            return await self._changed(conn, row)

    async def record_callback(self, asset_id: UUID, task_id: str | None, payload: dict[str, Any]) -> bool:
        """A provider called back for the asset: pass it on (a hint to check now, and the task's id
        for a job whose submitter crashed). False when there is no such asset."""
        async with self.pool.acquire() as conn, conn.transaction():
            provider = await conn.fetchval("SELECT provider FROM gateway.media_assets WHERE id = $1", asset_id)
            if provider is None:
                return False
            event = ProviderCallbackReceived(
                correlation_id=asset_id,
                asset_id=asset_id,
                provider=Provider(provider),
                task_id=task_id,
                payload=payload,
            )
            await enqueue(conn, SCHEMA, event)
            return True

    @contextlib.asynccontextmanager
    async def _once(self, consumer: str, event_id: UUID) -> AsyncIterator[asyncpg.Connection | None]:
        """A transaction in which the event is handled once per consumer (None: handled before)."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn if await first_delivery(conn, SCHEMA, consumer, event_id) else None

    async def _move_for(
        self,
        conn: asyncpg.Connection,
        asset_id: UUID,
        decide: Callable[[AssetStatus], lifecycle.Move | None],
    ) -> lifecycle.Move | None:
        status = await conn.fetchval("SELECT status FROM gateway.media_assets WHERE id = $1 FOR UPDATE", asset_id)
        return None if status is None else decide(AssetStatus(status))

    async def _fail(
        self, conn: asyncpg.Connection, asset_id: UUID, reason: FailureReason, message: str
    ) -> lifecycle.Move | None:
        move = await self._move_for(conn, asset_id, lifecycle.failure_from)
        if move is None:
            return None
        row = await conn.fetchrow(
            "UPDATE gateway.media_assets SET status = $2, error_code = $3, error_message = $4, charged = $5,"
            " completed_at = now(), updated_at = now() WHERE id = $1 AND status = ANY($6::text[])"
            " RETURNING id, user_id",
            asset_id,
            move.to.value,
            reason.value,
            message,
            move.charged,
            move.from_values,
        )
        return await self._settled(conn, row, move, reason=reason)

    async def _settled(
        self, conn: asyncpg.Connection, row: asyncpg.Record | None, move: lifecycle.Move, reason: FailureReason | None
    ) -> lifecycle.Move | None:
        if row is None:
            return None
        if move.charged is not None:
            settled = GenerationSettled(
                correlation_id=row["id"],
                asset_id=row["id"],
                user_id=row["user_id"],
                outcome=_OUTCOMES[move.to],
                charged=move.charged,
                reason=reason,
                late=move.late,
            )
            await enqueue(conn, SCHEMA, settled)
        await self.record_change(conn, row["user_id"], row["id"])
        return move

    async def _changed(self, conn: asyncpg.Connection, row: asyncpg.Record | None) -> bool:
        if row is None:
            return False
        await self.record_change(conn, row["user_id"], row["id"])
        return True

    async def record_change(self, conn: asyncpg.Connection, user_id: str, asset_id: UUID) -> None:
        # The user's next change number: their counter row stays locked until this transaction
        # commits, so the user's changes commit in the order of their numbers (see feed.py). Call
        # it last in a transaction, to hold that lock briefly and always after the asset's own.
        seq = await conn.fetchval(
            "WITH feed AS (INSERT INTO gateway.user_feeds AS f (user_id, seq) VALUES ($1, 1)"
            "  ON CONFLICT (user_id) DO UPDATE SET seq = f.seq + 1 RETURNING seq)"
            " INSERT INTO gateway.asset_changes (user_id, seq, asset_id) SELECT $1, seq, $2 FROM feed RETURNING seq",
            user_id,
            asset_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, f"{seq}:{user_id}")

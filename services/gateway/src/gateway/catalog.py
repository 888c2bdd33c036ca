"""The media catalog in Postgres: the gateway's own `gateway.media_assets`.

Every update is conditional on the asset still processing, so that redelivered or late events
never move a terminal asset; each change is appended to `asset_changes` and announced with
NOTIFY for the live views.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts import Event, GenerationRequested
from aistudio_runtime import Database, enqueue, first_delivery
from aistudio_runtime.outbox import channel_for

from .domain.requests import GenerationSpec

SCHEMA = "gateway"
CHANGES_CHANNEL = "gateway_asset_changes"

ASSET_COLUMNS = (
    "id, user_id, provider, requested_provider, type, prompt, reference_image_url, aspect_ratio, status,"
    " provider_task_id, result_storage_key, result_content_type, result_origin_url, error_code, error_message,"
    " caption, caption_status, idempotency_key, request_hash, created_at, updated_at, completed_at"
)


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


class Catalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def find(self, user_id: str, asset_id: UUID) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE id = $1 AND user_id = $2", asset_id, user_id
        )

    async def find_by_idempotency_key(self, user_id: str, key: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE user_id = $1 AND idempotency_key = $2",
            user_id,
            key,
        )

    async def create(
        self, asset_id: UUID, user_id: str, spec: GenerationSpec, idempotency_key: str | None
    ) -> asyncpg.Record | None:
        """Store the asset and its GenerationRequested in one transaction; None if the key was taken meanwhile."""
        event = GenerationRequested(
            correlation_id=asset_id,
            asset_id=asset_id,
            user_id=user_id,
            provider=spec.provider,
            media_type=spec.media_type,
            prompt=spec.prompt,
            aspect_ratio=spec.aspect_ratio,
            reference_image_url=spec.reference_image_url,
        )
        # The hot path of every accepted request, so one statement (atomic on its own): the asset,
        # its event in the outbox, the change for live views, and the two wake-ups.
        return await self.pool.fetchrow(
            "WITH asset AS ("
            "  INSERT INTO gateway.media_assets (id, user_id, provider, requested_provider, type, prompt,"
            "  reference_image_url, aspect_ratio, idempotency_key, request_hash)"
            "  VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9)"
            f" ON CONFLICT DO NOTHING RETURNING {ASSET_COLUMNS}),"
            " queued AS (INSERT INTO gateway.outbox (event_id, subject, payload)"
            "  SELECT $10, $11, $12 FROM asset RETURNING id),"
            " change AS (INSERT INTO gateway.asset_changes (user_id, asset_id)"
            "  SELECT user_id, id FROM asset RETURNING seq, user_id),"
            " woken AS (SELECT pg_notify($13, ''), pg_notify($14, change.seq || ':' || change.user_id)"
            "  FROM change JOIN queued ON true)"
            " SELECT asset.* FROM asset LEFT JOIN woken ON true",
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
        )

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
            f"SELECT {ASSET_COLUMNS} FROM gateway.media_assets WHERE {' AND '.join(clauses)}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more and page else None
        return GalleryPage(page, next_cursor)

    async def apply(
        self,
        consumer: str,
        event: Event,
        sql: str,
        *args: Any,
        follow_up: tuple[Event, ...] = (),
    ) -> bool:
        """Run one conditional update for an event, exactly once per (consumer, event)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await first_delivery(conn, SCHEMA, consumer, event.event_id):
                return False
            row = await conn.fetchrow(sql, *args)
            if row is None:
                return False
            await enqueue(conn, SCHEMA, *follow_up)
            await self.record_change(conn, row["user_id"], row["id"])
            return True

    async def record_change(self, conn: asyncpg.Connection, user_id: str, asset_id: UUID) -> None:
        seq = await conn.fetchval(
            "INSERT INTO gateway.asset_changes (user_id, asset_id) VALUES ($1, $2) RETURNING seq",
            user_id,
            asset_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, f"{seq}:{user_id}")

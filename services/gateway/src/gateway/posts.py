"""The user's posts, `gateway.posts`, and its only writer.

A post is stored with its PostRequested in one transaction (outbox); the publisher's events move
it through the named moves of domain/posting.py, each applied once and only when newer than the
row (the publisher's version). Every change is a change of the asset the post belongs to on the
user's live feed (the catalog's change numbering), so an open page hears of it with no new
stream: the card's asset comes again and the page reads its posts.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from aistudio_contracts import (
    LateWebhookReceived,
    MediaType,
    PlatformResult,
    PostMedia,
    PostRequested,
)
from aistudio_runtime import Database, enqueue

from .catalog import SCHEMA, Catalog
from .domain.posting import MOVES_FROM, PostSpec

POST_COLUMNS = (
    "id, user_id, media_id, status, caption, scheduled_for, platforms, error_code, error_message, version,"
    " idempotency_key, request_hash, created_at, updated_at"
)
# A webhook's id names one event however often Late delivers it.
_WEBHOOK_NAMESPACE = UUID("0b7c7d3e-5a8e-4f44-8f0e-6c1c3b0f5a21")


@dataclass(frozen=True, slots=True)
class PostsPage:
    posts: list[asyncpg.Record]
    next_cursor: str | None


def encode_cursor(created_at: datetime, post_id: UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), str(post_id)]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created_at, post_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), UUID(post_id)
    except Exception as exc:
        raise ValueError("invalid cursor") from exc


def webhook_event_id(webhook_id: str) -> UUID:
    return uuid5(_WEBHOOK_NAMESPACE, webhook_id)


class PostsCatalog:
    def __init__(self, db: Database, catalog: Catalog) -> None:
        self._db = db
        self._catalog = catalog

    @property
    def pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def find(self, user_id: str, post_id: UUID) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {POST_COLUMNS} FROM gateway.posts WHERE id = $1 AND user_id = $2", post_id, user_id
        )

    async def find_by_idempotency_key(self, user_id: str, key: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT {POST_COLUMNS} FROM gateway.posts WHERE user_id = $1 AND idempotency_key = $2", user_id, key
        )

    async def create(
        self,
        post_id: UUID,
        user_id: str,
        asset: asyncpg.Record,
        spec: PostSpec,
        idempotency_key: str | None,
    ) -> asyncpg.Record | None:
        """Store the post and its PostRequested together; None if the key was taken meanwhile."""
        event = PostRequested(
            correlation_id=post_id,
            post_id=post_id,
            user_id=user_id,
            media_id=asset["id"],
            caption=spec.caption,
            targets=list(spec.targets),
            media=PostMedia(
                storage_key=asset["result_storage_key"],
                content_type=asset["result_content_type"] or "application/octet-stream",
                media_type=MediaType(asset["type"]),
                aspect_ratio=asset["aspect_ratio"],
            ),
            scheduled_for=spec.scheduled_for,
        )
        platforms = [
            PlatformResult(account_id=t.account_id, platform=t.platform, status="pending").model_dump(mode="json")
            for t in spec.targets
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO gateway.posts (id, user_id, media_id, status, caption, scheduled_for, platforms,"
                " idempotency_key, request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                f" ON CONFLICT DO NOTHING RETURNING {POST_COLUMNS}",
                post_id,
                user_id,
                asset["id"],
                spec.initial_status,
                spec.caption,
                spec.scheduled_for,
                json.dumps(platforms),
                idempotency_key,
                spec.fingerprint(),
            )
            if row is None:
                return None
            await enqueue(conn, SCHEMA, event)
            await self._catalog.record_change(conn, user_id, asset["id"])
            return row

    async def page(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: tuple[datetime, UUID] | None,
        media_id: UUID | None,
        status: str | None,
    ) -> PostsPage:
        rows = await self.pool.fetch(
            f"SELECT {POST_COLUMNS} FROM gateway.posts WHERE user_id = $1"
            " AND ($2::uuid IS NULL OR media_id = $2) AND ($3::text IS NULL OR status = $3)"
            " AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))"
            " ORDER BY created_at DESC, id DESC LIMIT $6",
            user_id,
            media_id,
            status,
            cursor[0] if cursor else None,
            cursor[1] if cursor else None,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more and rows else None
        return PostsPage(list(rows), next_cursor)

    async def move(
        self,
        post_id: UUID,
        to: str,
        version: int,
        *,
        platforms: list[PlatformResult] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """One of the publisher's moves, applied when newer than the row and allowed from its status."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE gateway.posts SET status = $2, version = $3,"
                " platforms = COALESCE($4::jsonb, platforms), error_code = $5, error_message = $6,"
                " updated_at = clock_timestamp()"
                " WHERE id = $1 AND version < $3 AND status = ANY($7::text[]) RETURNING user_id, media_id",
                post_id,
                to,
                version,
                json.dumps([p.model_dump(mode="json") for p in platforms]) if platforms is not None else None,
                error_code,
                error_message,
                list(MOVES_FROM[to]),
            )
            if row is None:
                return False
            await self._catalog.record_change(conn, row["user_id"], row["media_id"])
            return True

    async def cancelled(self, user_id: str, post_id: UUID) -> asyncpg.Record | None:
        """The publisher confirmed the cancel: final at once (its PostCancelled comes later, and
        nothing moves a cancelled post)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE gateway.posts SET status = 'cancelled', updated_at = clock_timestamp()"
                " WHERE id = $1 AND user_id = $2 AND status = ANY($3::text[])"
                f" RETURNING {POST_COLUMNS}",
                post_id,
                user_id,
                list(MOVES_FROM["cancelled"]),
            )
            if row is not None:
                await self._catalog.record_change(conn, user_id, row["media_id"])
            return row

    async def record_webhook(
        self, webhook_id: str, event: str, late_post_id: str | None, payload: dict[str, Any]
    ) -> None:
        """Pass a verified webhook on to the publisher; its redeliveries are the same event."""
        message = LateWebhookReceived(
            event_id=webhook_event_id(webhook_id),
            correlation_id=webhook_event_id(webhook_id),
            webhook_id=webhook_id,
            event=event,
            late_post_id=late_post_id,
            payload=payload,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await enqueue(conn, SCHEMA, message)

"""The captioner's own state in Postgres: one caption per asset, and the users' system prompts.

A caption is claimed before OpenAI is asked (attempts + 1, a lease, a token) and settled by
conditional updates whose from-states come from domain/caption.py, each in the transaction that
queues its event. So however
often GenerationCompleted is delivered, and by however many replicas, an asset gets at most one
CaptionGenerated or CaptionFailed from the automatic path, and no call once it is settled.
"""

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID, uuid4

import asyncpg

from aistudio_contracts import CaptionFailed, CaptionGenerated, CaptionSettingsChanged, MediaType
from aistudio_runtime import Database, enqueue

from .domain.caption import CLAIMABLE, SETTLEABLE, values

SCHEMA = "captioner"


class Settled(StrEnum):
    """Why a caption could not be claimed."""

    DONE = "done"  # a caption exists, or captioning gave up: nothing more to do
    BUSY = "busy"  # another delivery holds an unexpired claim


@dataclass(frozen=True, slots=True)
class Claim:
    asset_id: UUID
    token: UUID
    attempt: int
    last_error: str | None


class CaptionRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def claim(
        self, asset_id: UUID, user_id: str, media_type: MediaType, *, lease_seconds: float
    ) -> Claim | Settled:
        token = uuid4()
        row = await self._pool.fetchrow(
            "INSERT INTO captioner.captions (asset_id, user_id, media_type, attempts, claimed_by, claimed_until)"
            " VALUES ($1, $2, $3, 1, $4, now() + make_interval(secs => $5))"
            " ON CONFLICT (asset_id) DO UPDATE SET attempts = captions.attempts + 1,"
            " claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until, updated_at = now()"
            " WHERE captions.status = ANY($6::text[])"
            " AND (captions.claimed_until IS NULL OR captions.claimed_until < now())"
            " RETURNING attempts, last_error",
            asset_id,
            user_id,
            media_type.value,
            token,
            lease_seconds,
            values(CLAIMABLE),
        )
        if row is not None:
            return Claim(asset_id, token, row["attempts"], row["last_error"])
        status = await self._pool.fetchval("SELECT status FROM captioner.captions WHERE asset_id = $1", asset_id)
        return Settled.BUSY if status in values(CLAIMABLE) else Settled.DONE

    async def release(self, claim: Claim, error: str) -> None:
        """Give the claim up after a failed attempt, so that the next delivery may try at once."""
        await self._pool.execute(
            "UPDATE captioner.captions SET claimed_by = NULL, claimed_until = NULL, last_error = $3, updated_at = now()"
            " WHERE asset_id = $1 AND claimed_by = $2 AND status = ANY($4::text[])",
            claim.asset_id,
            claim.token,
            error,
            values(CLAIMABLE),
        )

    async def succeed(self, claim: Claim, user_id: str, caption: str, model: str) -> bool:
        """Store the caption and queue CaptionGenerated, unless the asset got one meanwhile."""
        async with self._pool.acquire() as conn, conn.transaction():
            settled = await conn.fetchval(
                "UPDATE captioner.captions SET status = 'ready', caption = $2, model = $3, last_error = NULL,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = now()"
                " WHERE asset_id = $1 AND status = ANY($4::text[]) RETURNING true",
                claim.asset_id,
                caption,
                model,
                values(SETTLEABLE),
            )
            if not settled:
                return False
            await enqueue(conn, SCHEMA, _generated(claim.asset_id, user_id, caption, model))
            return True

    async def fail(self, asset_id: UUID, user_id: str, message: str) -> bool:
        """Give up on the asset's caption and queue CaptionFailed, unless it was settled meanwhile."""
        async with self._pool.acquire() as conn, conn.transaction():
            settled = await conn.fetchval(
                "UPDATE captioner.captions SET status = 'failed', last_error = $2,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = now()"
                " WHERE asset_id = $1 AND status = ANY($3::text[]) RETURNING true",
                asset_id,
                message,
                values(SETTLEABLE),
            )
            if not settled:
                return False
            event = CaptionFailed(correlation_id=asset_id, asset_id=asset_id, user_id=user_id, message=message)
            await enqueue(conn, SCHEMA, event)
            return True

    async def replace(self, asset_id: UUID, user_id: str, media_type: MediaType, caption: str, model: str) -> None:
        """A caption the user asked for becomes the asset's caption (and ends any automatic attempt)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO captioner.captions (asset_id, user_id, media_type, status, source, caption, model)"
                " VALUES ($1, $2, $3, 'ready', 'on-demand', $4, $5)"
                " ON CONFLICT (asset_id) DO UPDATE SET status = 'ready', source = 'on-demand',"
                " caption = EXCLUDED.caption, model = EXCLUDED.model, last_error = NULL,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = now()",
                asset_id,
                user_id,
                media_type.value,
                caption,
                model,
            )
            await enqueue(conn, SCHEMA, _generated(asset_id, user_id, caption, model))


def _generated(asset_id: UUID, user_id: str, caption: str, model: str) -> CaptionGenerated:
    return CaptionGenerated(correlation_id=asset_id, asset_id=asset_id, user_id=user_id, caption=caption, model=model)


class SystemPrompts:
    """The captioner's copy of each user's caption system prompt (the gateway owns the original)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> str | None:
        value = await self._db.pool.fetchval(
            "SELECT caption_system_prompt FROM captioner.user_settings WHERE user_id = $1", user_id
        )
        return value if isinstance(value, str) else None

    async def apply(self, event: CaptionSettingsChanged) -> bool:
        """Keep the newest version; an older or repeated event changes nothing."""
        applied = await self._db.pool.fetchval(
            "INSERT INTO captioner.user_settings (user_id, caption_system_prompt, version) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET caption_system_prompt = EXCLUDED.caption_system_prompt,"
            " version = EXCLUDED.version, updated_at = now()"
            " WHERE user_settings.version < EXCLUDED.version RETURNING true",
            event.user_id,
            event.caption_system_prompt,
            event.version,
        )
        return bool(applied)

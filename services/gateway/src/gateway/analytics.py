"""The analytics projection: generations as the lifecycle events describe them, one row each.

Each event fills in its own columns with an idempotent upsert, so the events may arrive in any
order and any number of times (a replay rebuilds the table). The reads aggregate this table only,
never the catalog: an admin's dashboard costs the users' requests nothing.
"""

import re
from datetime import datetime
from typing import Any

import asyncpg

from aistudio_contracts import GenerationCompleted, GenerationRequested, GenerationSettled
from aistudio_runtime import Database

_SPACES = re.compile(r"\s+")
_MARKERS = re.compile(r"\[sim:[^\]]*\]")


def normalise_prompt(prompt: str) -> str:
    """Prompts counted as one when they differ only in case, spacing or trailing punctuation."""
    return _SPACES.sub(" ", _MARKERS.sub("", prompt)).strip().strip(".!?").lower()[:200]


class AnalyticsProjection:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def requested(self, event: GenerationRequested) -> None:
        await self._db.pool.execute(
            "INSERT INTO gateway.analytics_generations AS g (asset_id, user_id, requested_provider, provider,"
            " media_type, prompt_normalised, requested_at) VALUES ($1, $2, $3, $3, $4, $5, $6)"
            " ON CONFLICT (asset_id) DO UPDATE SET user_id = EXCLUDED.user_id,"
            "  requested_provider = EXCLUDED.requested_provider, provider = COALESCE(g.provider, EXCLUDED.provider),"
            "  media_type = EXCLUDED.media_type, prompt_normalised = EXCLUDED.prompt_normalised,"
            "  requested_at = EXCLUDED.requested_at",
            event.asset_id,
            event.user_id,
            event.provider.value,
            event.media_type.value,
            normalise_prompt(event.prompt),
            event.occurred_at,
        )

    async def completed(self, event: GenerationCompleted) -> None:
        await self._db.pool.execute(
            "INSERT INTO gateway.analytics_generations AS g (asset_id, user_id, provider, media_type, completed_at,"
            " fallback) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (asset_id) DO UPDATE SET provider = EXCLUDED.provider,"
            "  completed_at = LEAST(COALESCE(g.completed_at, EXCLUDED.completed_at), EXCLUDED.completed_at),"
            "  fallback = g.fallback OR EXCLUDED.fallback",
            event.asset_id,
            event.user_id,
            event.provider.value,
            event.media_type.value,
            event.occurred_at,
            event.requested_provider is not None,
        )

    async def settled(self, event: GenerationSettled) -> None:
        await self._db.pool.execute(
            "INSERT INTO gateway.analytics_generations AS g (asset_id, user_id, settled_at, outcome, charged)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (asset_id) DO UPDATE SET settled_at = EXCLUDED.settled_at, outcome = EXCLUDED.outcome,"
            "  charged = EXCLUDED.charged"
            "  WHERE g.settled_at IS NULL OR g.settled_at <= EXCLUDED.settled_at",
            event.asset_id,
            event.user_id,
            event.occurred_at,
            event.outcome,
            event.charged,
        )

    async def report(self, start: datetime, end: datetime, *, top_prompts: int = 10) -> dict[str, Any]:
        """The admins' figures for generations requested in [start, end), by day."""
        async with self._db.pool.acquire() as conn:
            return {
                "totals": _record(await conn.fetchrow(_TOTALS, start, end)),
                "by_provider": [_record(row) for row in await conn.fetch(_BY_PROVIDER, start, end)],
                "daily": [_record(row) for row in await conn.fetch(_DAILY, start, end)],
                "top_prompts": [_record(row) for row in await conn.fetch(_TOP_PROMPTS, start, end, top_prompts)],
                "in_flight": await conn.fetchval(
                    "SELECT count(*) FROM gateway.analytics_generations WHERE outcome IS NULL"
                    " AND requested_at > now() - interval '1 day'"
                ),
            }

    async def history(self, user_id: str) -> list[dict[str, Any]]:
        """The user's own generations by month: requested, ready, failed, charged."""
        rows = await self._db.pool.fetch(
            "SELECT to_char(date_trunc('month', requested_at), 'YYYY-MM') AS month, count(*) AS requested,"
            " count(*) FILTER (WHERE outcome = 'ready') AS ready, count(*) FILTER (WHERE outcome = 'error') AS failed,"
            " count(*) FILTER (WHERE charged) AS charged FROM gateway.analytics_generations"
            " WHERE user_id = $1 AND requested_at IS NOT NULL GROUP BY 1 ORDER BY 1 DESC LIMIT 24",
            user_id,
        )
        return [_record(row) for row in rows]


_SETTLED = "outcome IN ('ready', 'error')"
_SECONDS = "extract(epoch FROM completed_at - requested_at)"
_FIGURES = (
    "count(*) AS generations, count(*) FILTER (WHERE outcome = 'ready') AS ready,"
    " count(*) FILTER (WHERE outcome = 'error') AS failed, count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,"
    f" round((count(*) FILTER (WHERE outcome = 'ready'))::numeric / nullif(count(*) FILTER (WHERE {_SETTLED}), 0), 4)"
    "  AS success_rate,"
    f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_SECONDS}) FILTER (WHERE outcome = 'ready') AS p50_seconds,"
    f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {_SECONDS}) FILTER (WHERE outcome = 'ready') AS p95_seconds,"
    " count(*) FILTER (WHERE fallback) AS fallbacks"
)
_WINDOW = "FROM gateway.analytics_generations WHERE requested_at >= $1 AND requested_at < $2"
_TOTALS = f"SELECT {_FIGURES}, count(DISTINCT user_id) AS active_users {_WINDOW}"
_BY_PROVIDER = (
    f"SELECT requested_provider AS provider, media_type, {_FIGURES} {_WINDOW}"
    " GROUP BY requested_provider, media_type ORDER BY generations DESC"
)
_DAILY = (
    f"SELECT to_char(date_trunc('day', requested_at), 'YYYY-MM-DD') AS day, {_FIGURES},"
    f" count(DISTINCT user_id) AS active_users {_WINDOW} GROUP BY 1 ORDER BY 1"
)
_TOP_PROMPTS = (
    f"SELECT prompt_normalised AS prompt, count(*) AS count {_WINDOW} AND prompt_normalised <> ''"
    " GROUP BY 1 ORDER BY count DESC, prompt LIMIT $3"
)


def _record(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {key: float(value) if hasattr(value, "is_nan") else value for key, value in row.items()}

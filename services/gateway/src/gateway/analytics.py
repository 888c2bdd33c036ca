"""The analytics projection: generations as the lifecycle events describe them, one row each.

Each event fills in its own columns with an idempotent upsert, so the events may arrive in any
order and any number of times (a replay rebuilds the table). The reads aggregate this table only,
never the catalog: an admin's dashboard costs the users' requests nothing.
"""

import re
from datetime import datetime
from typing import Any

import asyncpg

from aistudio_contracts import GenerationCompleted, GenerationRequested, GenerationSettled, ProviderCostRecorded
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

    async def cost(self, event: ProviderCostRecorded) -> None:
        """One paid call; told again (same provider and call_ref) when it turned out wasted, so it is
        counted once. Wasted stays wasted: a redelivered older telling cannot undo it."""
        await self._db.pool.execute(
            "INSERT INTO gateway.analytics_costs AS c (provider, call_ref, asset_id, user_id, model, units, unit,"
            " usd, outcome, why, estimated, paid_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (provider, call_ref) DO UPDATE SET"
            "  outcome = CASE WHEN c.outcome = 'wasted' THEN c.outcome ELSE COALESCE(EXCLUDED.outcome, c.outcome) END,"
            "  why = CASE WHEN c.outcome = 'wasted' AND c.why IS NOT NULL THEN c.why ELSE COALESCE(EXCLUDED.why, c.why)"
            "  END, estimated = c.estimated AND EXCLUDED.estimated",
            event.provider,
            event.call_ref,
            event.asset_id,
            event.user_id,
            event.model,
            event.units,
            event.unit,
            event.usd,
            event.outcome,
            event.why,
            event.estimated,
            event.paid_at,
        )

    async def report(self, start: datetime, end: datetime, *, top_prompts: int = 10) -> dict[str, Any]:
        """The admins' figures for generations requested in [start, end), by day."""
        async with self._db.pool.acquire() as conn:
            return {
                "totals": _record(await conn.fetchrow(_TOTALS, start, end)),
                "by_provider": [_record(row) for row in await conn.fetch(_BY_PROVIDER, start, end)],
                "daily": [_record(row) for row in await conn.fetch(_DAILY, start, end)],
                "top_prompts": [_record(row) for row in await conn.fetch(_TOP_PROMPTS, start, end, top_prompts)],
                **await _costs(conn, start, end),
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


# Each paid call of the window with what it bought: wasted when told so or when the user cancelled
# the asset (its calls delivered nothing); else the asset's settlement; pending while in flight.
_CALLS = """
WITH calls AS (
    SELECT c.provider, c.unit, c.units, c.usd, c.asset_id, c.estimated,
           to_char(date_trunc('day', c.paid_at), 'YYYY-MM-DD') AS day,
           CASE WHEN c.outcome = 'wasted' OR g.outcome = 'cancelled' THEN 'wasted'
                WHEN c.outcome IS NOT NULL THEN c.outcome
                WHEN g.outcome = 'ready' THEN 'delivered'
                WHEN g.outcome = 'error' THEN 'failed'
                ELSE 'pending' END AS outcome,
           CASE WHEN c.outcome = 'wasted' THEN coalesce(c.why, 'unnamed')
                WHEN g.outcome = 'cancelled' THEN 'after_cancel' END AS why
    FROM gateway.analytics_costs c LEFT JOIN gateway.analytics_generations g USING (asset_id)
    WHERE c.paid_at >= $1 AND c.paid_at < $2
)
"""
_COST_FIGURES = (
    "count(*) AS calls, coalesce(sum(usd), 0) AS usd,"
    " coalesce(sum(usd) FILTER (WHERE outcome = 'delivered'), 0) AS delivered_usd,"
    " coalesce(sum(usd) FILTER (WHERE outcome = 'failed'), 0) AS failed_usd,"
    " coalesce(sum(usd) FILTER (WHERE outcome = 'wasted'), 0) AS wasted_usd,"
    " count(*) FILTER (WHERE outcome = 'wasted') AS wasted_calls,"
    " count(*) FILTER (WHERE estimated) AS estimated_calls,"
    " count(DISTINCT asset_id) FILTER (WHERE outcome = 'delivered') AS delivered_assets"
)
_COST_TOTALS = f"{_CALLS} SELECT {_COST_FIGURES} FROM calls"
_COST_BY_PROVIDER = (
    f"{_CALLS} SELECT provider, {_COST_FIGURES}, coalesce(sum(units) FILTER (WHERE unit = 'credits'), 0) AS credits,"
    " coalesce(sum(units) FILTER (WHERE unit = 'tokens'), 0) AS tokens FROM calls GROUP BY provider ORDER BY usd DESC"
)
_COST_DAILY = f"{_CALLS} SELECT day, {_COST_FIGURES} FROM calls GROUP BY day ORDER BY day"
_WASTE_BY_REASON = (
    f"{_CALLS} SELECT why AS reason, count(*) AS count, sum(usd) AS usd FROM calls WHERE outcome = 'wasted'"
    " GROUP BY why ORDER BY usd DESC, reason"
)


async def _costs(conn: asyncpg.Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """What the window's paid calls cost: cost per delivered asset is everything paid (delivered,
    failed and wasted alike) over the assets delivered, what a delivered asset really costs us;
    waste is paid for nothing delivered, by reason."""
    totals = _money(await conn.fetchrow(_COST_TOTALS, start, end))
    by_reason = [_money(row) for row in await conn.fetch(_WASTE_BY_REASON, start, end)]
    return {
        "costPerDeliveredAsset": totals["costPerDeliveredAsset"],
        "waste": {"usd": totals["wastedUsd"], "count": totals["wastedCalls"], "byReason": by_reason},
        "costs": {
            "totals": totals,
            "byProvider": [_money(row) for row in await conn.fetch(_COST_BY_PROVIDER, start, end)],
            "daily": [_money(row) for row in await conn.fetch(_COST_DAILY, start, end)],
        },
    }


def _money(row: asyncpg.Record | None) -> dict[str, Any]:
    """A cost row in the API's camelCase, amounts as numbers, with its cost per delivered asset."""
    figures = {_camel(key): value for key, value in _record(row).items()}
    if "usd" in figures and "deliveredAssets" in figures:
        delivered = figures["deliveredAssets"]
        figures["costPerDeliveredAsset"] = round(figures["usd"] / delivered, 6) if delivered else None
    return figures


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _record(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {key: float(value) if hasattr(value, "is_nan") else value for key, value in row.items()}

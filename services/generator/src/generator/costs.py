"""The generator's cost ledger: every paid call it made, priced (aistudio_providers.costs).

Recorded right after the call answered, best effort: a ledger write that fails is logged with the
figures and never fails the job (the job table still knows the task). A KIE task is recorded once
however often its id comes back (submit, adoption, a late callback): UNIQUE (provider, call_ref).

Each row is told as ProviderCostRecorded through the outbox in the transaction that wrote it, so
the analytics see exactly the ledger: no cost told that was not recorded, none recorded and lost.
A row that changes later (a call found wasted after a cancel) is told again under the same
call_ref, and the consumers keep one row per call.
"""

from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts import ProviderCostRecorded
from aistudio_providers.costs import Cost, Prices
from aistudio_runtime import Database, enqueue, get_logger

log = get_logger(__name__)

SCHEMA = "generator"
_COLUMNS = (
    "asset_id, user_id, provider, model, call_ref, units, unit, input_tokens, output_tokens, usd, wasted, why,"
    " estimated, at, id"
)


class CostLedger:
    def __init__(self, db: Database, prices: Prices) -> None:
        self._db = db
        self.prices = prices

    async def record(
        self, asset_id: UUID, user_id: str, cost: Cost, *, call_ref: str | None = None, wasted: str | None = None
    ) -> None:
        try:
            async with self._db.pool.acquire() as conn, conn.transaction():
                before = await conn.fetchrow(
                    "SELECT wasted, why FROM generator.provider_costs WHERE provider = $1 AND call_ref = $2 FOR UPDATE",
                    cost.provider,
                    call_ref,
                )
                row = await conn.fetchrow(
                    "INSERT INTO generator.provider_costs (asset_id, user_id, provider, model, call_ref, units, unit,"
                    " input_tokens, output_tokens, usd, wasted, why, estimated)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                    " ON CONFLICT (provider, call_ref) DO UPDATE SET wasted = provider_costs.wasted OR EXCLUDED.wasted,"
                    "   why = COALESCE(EXCLUDED.why, provider_costs.why)"
                    f" RETURNING {_COLUMNS}",
                    asset_id,
                    user_id,
                    cost.provider,
                    cost.model,
                    call_ref,
                    cost.units,
                    cost.unit,
                    cost.input_tokens,
                    cost.output_tokens,
                    cost.usd,
                    wasted is not None,
                    wasted,
                    cost.estimated,
                )
                # Told when it is new or its outcome moved; the same task id coming back again is not news.
                if row is not None and (
                    before is None or (before["wasted"], before["why"]) != (row["wasted"], row["why"])
                ):
                    await enqueue(conn, SCHEMA, told(row))
        except Exception as exc:
            log.error(
                "provider_cost_not_recorded",
                error=repr(exc),
                provider=cost.provider,
                model=cost.model,
                units=str(cost.units),
                usd=str(cost.usd),
                call_ref=call_ref,
            )

    async def mark_wasted(self, call_ref: str, why: str) -> None:
        """A call recorded as paid turned out to deliver nothing (the user cancelled meanwhile)."""
        try:
            async with self._db.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "UPDATE generator.provider_costs SET wasted = true, why = $2"
                    f" WHERE call_ref = $1 AND NOT (wasted AND why IS NOT DISTINCT FROM $2) RETURNING {_COLUMNS}",
                    call_ref,
                    why,
                )
                if rows:
                    await enqueue(conn, SCHEMA, *(told(row) for row in rows))
        except Exception as exc:
            log.error("provider_cost_waste_not_recorded", error=repr(exc), call_ref=call_ref, why=why)


def told(row: asyncpg.Record | dict[str, Any]) -> ProviderCostRecorded:
    """A ledger row as the event that carries it: wasted when known; otherwise the asset's
    settlement decides delivered or failed (the generator does not follow a KIE task's result).
    Rows from before call_refs were kept get one from their id."""
    return ProviderCostRecorded.of_ledger_row(
        {**dict(row), "call_ref": row["call_ref"] or f"{row['provider']}:ledger:{row['id']}"}
    )

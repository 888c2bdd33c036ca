"""The generator's cost ledger: every paid call it made, priced (aistudio_providers.costs).

Recorded right after the call answered, best effort: a ledger write that fails is logged with the
figures and never fails the job (the job table still knows the task). A KIE task is recorded once
however often its id comes back (submit, adoption, a late callback): UNIQUE (provider, call_ref).
"""

from uuid import UUID

from aistudio_providers.costs import Cost, Prices
from aistudio_runtime import Database, get_logger

log = get_logger(__name__)


class CostLedger:
    def __init__(self, db: Database, prices: Prices) -> None:
        self._db = db
        self.prices = prices

    async def record(
        self, asset_id: UUID, user_id: str, cost: Cost, *, call_ref: str | None = None, wasted: str | None = None
    ) -> None:
        try:
            await self._db.pool.execute(
                "INSERT INTO generator.provider_costs (asset_id, user_id, provider, model, call_ref, units, unit,"
                " input_tokens, output_tokens, usd, wasted, why)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                " ON CONFLICT (provider, call_ref) DO UPDATE SET wasted = provider_costs.wasted OR EXCLUDED.wasted,"
                "   why = COALESCE(EXCLUDED.why, provider_costs.why)",
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
            )
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
            await self._db.pool.execute(
                "UPDATE generator.provider_costs SET wasted = true, why = $2 WHERE call_ref = $1", call_ref, why
            )
        except Exception as exc:
            log.error("provider_cost_waste_not_recorded", error=repr(exc), call_ref=call_ref, why=why)

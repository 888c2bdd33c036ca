"""The captioner's cost ledger: each OpenAI call that answered, priced from its usage field.

Best effort: a ledger write that fails is logged with the figures and never fails the caption.
"""

from typing import Any
from uuid import UUID

from aistudio_providers.costs import Prices
from aistudio_runtime import Database, get_logger

log = get_logger(__name__)


class CaptionCosts:
    def __init__(self, db: Database, prices: Prices) -> None:
        self._db = db
        self._prices = prices

    async def record(self, asset_id: UUID, user_id: str, model: str, usage: dict[str, Any], kind: str) -> None:
        cost = self._prices.openai(model, usage)
        try:
            await self._db.pool.execute(
                "INSERT INTO captioner.provider_costs (asset_id, user_id, provider, model, kind, units, unit,"
                " input_tokens, output_tokens, usd) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                asset_id,
                user_id,
                cost.provider,
                cost.model,
                kind,
                cost.units,
                cost.unit,
                cost.input_tokens,
                cost.output_tokens,
                cost.usd,
            )
        except Exception as exc:
            log.error("provider_cost_not_recorded", error=repr(exc), model=model, usd=str(cost.usd))

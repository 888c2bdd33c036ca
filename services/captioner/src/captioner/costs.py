"""The captioner's cost ledger: each OpenAI call it paid for, priced from its usage field.

Every call that reached OpenAI is paid, so every one is recorded: a caption written, a caption
refused or empty (its usage came with the refusal; paid, nothing delivered: wasted), and a call
whose answer was lost in transit (no usage field at all: our estimate, wasted as answer_lost).

One call is one `call_ref` (an automatic caption's asset and attempt, an on-demand request's own
id): UNIQUE (provider, call_ref), so a redelivered caption request never records a call twice.
Each row is told as ProviderCostRecorded through the outbox in the transaction that wrote it, so
the analytics see exactly this ledger. A call that wrote a caption carries no outcome: the asset it
captioned was delivered, and the analytics read that from the asset's settlement.

Best effort: a ledger write that fails is logged with the figures and never fails the caption.
"""

from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts import FailureReason, ProviderCostRecorded
from aistudio_providers import ProviderError
from aistudio_providers.captions import DEFAULT_CAPTION_SYSTEM_PROMPT
from aistudio_providers.costs import Cost, Prices
from aistudio_providers.errors import answer_lost
from aistudio_runtime import Database, enqueue, get_logger

log = get_logger(__name__)

SCHEMA = "captioner"
_COLUMNS = (
    "asset_id, user_id, provider, model, call_ref, units, unit, input_tokens, output_tokens, usd, wasted, why,"
    " estimated, at"
)


def automatic_call(asset_id: UUID, attempt: int) -> str:
    """An automatic caption's call: each claimed attempt asks OpenAI at most once."""
    return f"caption:{asset_id}:{attempt}"


def on_demand_call(asset_id: UUID, request_id: UUID) -> str:
    return f"caption:{asset_id}:on-demand:{request_id}"


class CaptionCosts:
    def __init__(self, db: Database, prices: Prices, *, model: str) -> None:
        self._db = db
        self._prices = prices
        self._model = model  # what a lost call was sent to (its answer would have named it)

    async def written(
        self, asset_id: UUID, user_id: str, model: str, usage: dict[str, Any], *, kind: str, call_ref: str
    ) -> None:
        """A caption came back: its usage priced."""
        await self._record(asset_id, user_id, self._prices.openai(model, usage), kind, call_ref, wasted=None)

    async def not_written(
        self,
        asset_id: UUID,
        user_id: str,
        error: ProviderError,
        *,
        kind: str,
        call_ref: str,
        prompt: str,
        system_prompt: str | None,
    ) -> None:
        """A call that wrote no caption: recorded as wasted when OpenAI billed it (it answered with
        usage, or its answer was lost after sending); a call refused before any work is not paid."""
        if error.usage:
            usage = {"prompt_tokens": error.usage["input_tokens"], "completion_tokens": error.usage["output_tokens"]}
            why = "caption_refused" if error.reason is FailureReason.CONTENT_POLICY else "caption_unusable"
            await self._record(asset_id, user_id, self._prices.openai(self._model, usage), kind, call_ref, wasted=why)
        elif answer_lost(error):
            text = f"{system_prompt or DEFAULT_CAPTION_SYSTEM_PROMPT}\nThis is an image from the prompt: {prompt}"
            cost = self._prices.openai_estimate(self._model, text)
            await self._record(asset_id, user_id, cost, kind, call_ref, wasted="answer_lost")

    async def _record(
        self, asset_id: UUID, user_id: str, cost: Cost, kind: str, call_ref: str, *, wasted: str | None
    ) -> None:
        try:
            async with self._db.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "INSERT INTO captioner.provider_costs (asset_id, user_id, provider, model, kind, call_ref, units,"
                    " unit, input_tokens, output_tokens, usd, wasted, why, estimated)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    f" ON CONFLICT (provider, call_ref) DO NOTHING RETURNING {_COLUMNS}",
                    asset_id,
                    user_id,
                    cost.provider,
                    cost.model,
                    kind,
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
                if row is not None:  # a call already recorded is not news
                    await enqueue(conn, SCHEMA, told(row))
        except Exception as exc:
            log.error(
                "provider_cost_not_recorded",
                error=repr(exc),
                model=cost.model,
                units=str(cost.units),
                usd=str(cost.usd),
                call_ref=call_ref,
            )


def told(row: asyncpg.Record | dict[str, Any]) -> ProviderCostRecorded:
    """A ledger row as the event that carries it: wasted when no caption came of it; otherwise no
    outcome, and the captioned asset's settlement (delivered) decides."""
    return ProviderCostRecorded.of_ledger_row(row)

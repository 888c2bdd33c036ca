"""What a paid provider call cost us, told once it is paid and again once its outcome is known.

Each paying service's ledger (generator.provider_costs, captioner.provider_costs) is the record;
this event carries each row to
whoever aggregates money (the gateway's analytics). One paid call is one `call_ref` (a KIE task
id, a Gemini call of an asset): a consumer keeps one row per (provider, call_ref), so the second
telling of a call (its outcome became known later, e.g. a result that came back after a cancel)
replaces the first instead of counting it twice.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from . import subjects
from .envelope import Event

# delivered: the asset this call worked for was delivered; failed: it failed; wasted: paid and known
# to deliver nothing (a KIE task after the fallback, work after a cancel, a Gemini answer that was lost).
CostOutcome = Literal["delivered", "failed", "wasted"]


class ProviderCostRecorded(Event):
    """A paid provider call, priced. `outcome` is set when the publisher knows it (wasted, or a
    synchronous call that delivered); when it is None the asset's settlement decides delivered or
    failed. `estimated` marks units the provider never reported (an answer lost in transit)."""

    subject: ClassVar[str] = subjects.PROVIDER_COST_RECORDED

    asset_id: UUID
    user_id: str
    provider: str  # kie, gemini, openai
    model: str
    call_ref: str
    units: Decimal = Field(ge=0)
    unit: Literal["credits", "tokens"]
    usd: Decimal = Field(ge=0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    outcome: CostOutcome | None = None
    why: str | None = None
    estimated: bool = False
    paid_at: AwareDatetime

    @classmethod
    def of_ledger_row(cls, row: Mapping[str, Any]) -> "ProviderCostRecorded":
        """A ledger row (the columns every paying service's provider_costs shares) as its event: wasted
        when the row says so, otherwise no outcome (the asset's settlement decides)."""
        return cls(
            correlation_id=row["asset_id"],
            asset_id=row["asset_id"],
            user_id=row["user_id"],
            provider=row["provider"],
            model=row["model"],
            call_ref=row["call_ref"],
            units=row["units"],
            unit=row["unit"],
            usd=row["usd"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            outcome="wasted" if row["wasted"] else None,
            why=row["why"],
            estimated=row["estimated"],
            paid_at=row["at"],
        )


COST_EVENTS: tuple[type[Event], ...] = (ProviderCostRecorded,)

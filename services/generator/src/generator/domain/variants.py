"""The assets one job makes, and what a user's cancel of one of them does to the job.

A 4o batch is one job (keyed by its lead asset, the first) making every variant in one paid task;
any other job makes one asset. The job goes on while any of its assets is wanted, so cancelling
one variant (the lead included) ends only that asset; the job ends cancelled when none is left.

    cancel of an asset not seen yet ──▶ remembered (a tombstone row keyed by that asset)
    request whose assets are all remembered as cancelled ──▶ the job is created failed (cancelled)
    request with some wanted ──▶ waiting, the remembered ones counted cancelled from the start
    cancel of one asset of a job ──▶ that asset cancelled; the job too once no asset is wanted
    the job fails ──▶ GenerationFailed for every asset still wanted, with the job's one reason

A cancelled asset of a job whose task is already paid for is waste: its result (if it comes) is
never delivered, and its share of the task's cost (`cost_shares`) is recorded as wasted.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from aistudio_providers.costs import Cost

from .job import Cancel, JobState, cancel_from

# Share figures are kept to this many places; what division leaves over goes to the lead's share.
_SHARE_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Variants:
    """Every asset a job makes, in result order (the job's own asset first), and those cancelled."""

    asset_ids: tuple[UUID, ...]
    cancelled: frozenset[UUID] = frozenset()

    @classmethod
    def of(
        cls, asset_id: UUID, variant_asset_ids: Sequence[UUID] | None, cancelled: Collection[UUID] = ()
    ) -> "Variants":
        assets = tuple(variant_asset_ids or (asset_id,))
        return cls(assets, frozenset(cancelled) & frozenset(assets))

    @property
    def wanted(self) -> tuple[UUID, ...]:
        """The assets the user still wants, in result order."""
        return tuple(asset for asset in self.asset_ids if asset not in self.cancelled)

    @property
    def all_cancelled(self) -> bool:
        return not self.wanted

    @property
    def is_batch(self) -> bool:
        return len(self.asset_ids) > 1


class Intake(StrEnum):
    """How a request becomes a job."""

    WAITING = "waiting"  # to be worked
    CANCELLED = "cancelled"  # every asset was cancelled before the request came: never sent


def intake(variants: Variants) -> Intake:
    return Intake.CANCELLED if variants.all_cancelled else Intake.WAITING


@dataclass(frozen=True, slots=True)
class VariantCancelled:
    """A cancel's effect on a job: the asset is cancelled; `job` is the job's own cancel when no
    asset is wanted any more (None: the job goes on for the others, or has ended already);
    `wasted_share` names the asset's share of a task already paid for, now waste."""

    variants: Variants
    job: Cancel | None
    wasted_share: str | None = None


def cancel_asset(
    state: JobState, variants: Variants, asset_id: UUID, *, task_id: str | None
) -> VariantCancelled | None:
    """What the user's cancel of `asset_id` does to a job in `state` making `variants`, whose paid
    task is `task_id` if it has one (None: the asset is not the job's, or was cancelled already)."""
    if asset_id not in variants.asset_ids or asset_id in variants.cancelled:
        return None
    after = replace(variants, cancelled=variants.cancelled | {asset_id})
    job = cancel_from(state) if after.all_cancelled else None
    wasted = share_ref(task_id, variants.asset_ids.index(asset_id)) if task_id else None
    return VariantCancelled(after, job, wasted)


def wasted_shares(variants: Variants, task_id: str) -> list[str]:
    """The shares of `task_id` that deliver nothing: those of the cancelled assets."""
    return [share_ref(task_id, i) for i, asset in enumerate(variants.asset_ids) if asset in variants.cancelled]


def cost_shares(cost: Cost, variants: Variants, call_ref: str) -> list[tuple[UUID, str, Cost]]:
    """One paid task's cost split over the assets it makes (a spare result is paid by them all),
    each share under its own call_ref: the lead's is the task's own (`call_ref`), the others'
    `call_ref/i`. The shares add up exactly to the task's cost (the lead takes the remainder)."""
    count = len(variants.asset_ids)
    if count == 1:
        return [(variants.asset_ids[0], call_ref, cost)]
    units = (cost.units / count).quantize(_SHARE_QUANTUM)
    usd = (cost.usd / count).quantize(_SHARE_QUANTUM)
    share = replace(cost, units=units, usd=usd)
    lead = replace(cost, units=cost.units - units * (count - 1), usd=cost.usd - usd * (count - 1))
    rest = [(asset, share_ref(call_ref, index), share) for index, asset in enumerate(variants.asset_ids) if index]
    return [(variants.asset_ids[0], call_ref, lead), *rest]


def share_ref(call_ref: str, index: int) -> str:
    """The ledger's name for variant `index`'s share of a task (the lead's, 0, is the task's own)."""
    return call_ref if index == 0 else f"{call_ref}/{index}"

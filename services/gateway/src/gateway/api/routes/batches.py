"""Several variants of one request: every unit taken at once or none, with the assets, in one transaction."""

from uuid import UUID, uuid4, uuid5

from ... import metrics
from ...catalog import QuotaRefused
from ...domain.requests import GenerationSpec
from ..deps import Gateway
from ..errors import ApiError
from ..presenters import present_asset
from ..schemas import BatchPublic

# Batches created through an Idempotency-Key get ids derived from it (as single assets do), so
# concurrent retries take units under the same request ids and are charged once.
_BATCH_NAMESPACE = UUID("0c1f7f0e-6a53-4c36-8a38-5d2b8c9e4b71")


def limit_reached(limit: int | None) -> ApiError:
    return ApiError(
        403,
        {
            "error": "Monthly media generation limit reached",
            "message": f"Free plan allows {limit} AI generations per month. Upgrade to Pro for unlimited.",
            "limit": limit,
        },
    )


def _ids(user_id: str, key: str | None, count: int) -> tuple[UUID, list[UUID]]:
    if key is None:
        return uuid4(), [uuid4() for _ in range(count)]
    seed = f"{user_id}\x00{key}"
    return uuid5(_BATCH_NAMESPACE, seed), [uuid5(_BATCH_NAMESPACE, f"{seed}\x00{index}") for index in range(count)]


async def _replay(gateway: Gateway, user_id: str, key: str, spec: GenerationSpec) -> BatchPublic | None:
    lead = await gateway.catalog.find_by_idempotency_key(user_id, key)
    if lead is None:
        return None
    if lead["request_hash"] != spec.fingerprint() or lead["batch_id"] is None:
        raise ApiError(
            422,
            {
                "error": "Idempotency-Key reused",
                "message": "This Idempotency-Key was already used with a different request body.",
            },
        )
    return _batch(gateway, lead["batch_id"], await gateway.catalog.batch(user_id, lead["batch_id"]))


def _batch(gateway: Gateway, batch_id: UUID, rows: list[object]) -> BatchPublic:
    return BatchPublic(batch_id=batch_id, assets=[present_asset(row, gateway.links) for row in rows])  # type: ignore[arg-type]


async def generate_batch(gateway: Gateway, user_id: str, spec: GenerationSpec, key: str | None) -> BatchPublic:
    if key and (replayed := await _replay(gateway, user_id, key, spec)):
        return replayed
    batch_id, asset_ids = _ids(user_id, key, spec.variants)
    deadline_at = gateway.catalog.new_deadline()
    try:
        rows = await gateway.catalog.create_batch(asset_ids, batch_id, user_id, spec, key, deadline_at)
    except QuotaRefused as refused:
        metrics.units_asked(False, len(asset_ids))
        raise limit_reached(refused.limit) from None
    if rows is None:  # a concurrent request with the same key stored it first
        replayed = await _replay(gateway, user_id, key or "", spec)
        if replayed is None:
            raise ApiError(409, {"error": "Conflicting request, please retry"})
        return replayed
    metrics.units_asked(True, len(rows))
    return _batch(gateway, batch_id, list(rows))

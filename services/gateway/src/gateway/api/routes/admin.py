"""Operations for administrators (a JWT whose role claim is `admin`), each written to an audit table."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError
from ..schemas import CamelModel, PlanChange, UsagePublic

router = APIRouter(prefix="/api/admin", tags=["admin"])


class AuditEntryPublic(CamelModel):
    id: int
    at: datetime
    actor_id: str
    action: str
    target_user_id: str
    detail: dict[str, Any]


class AuditPublic(CamelModel):
    entries: list[AuditEntryPublic]


def _forbidden() -> ApiError:
    return ApiError(403, {"error": "Forbidden", "message": "Only administrators can do this."})


@router.put(
    "/users/{user_id}/plan", response_model=UsagePublic, responses={400: {}, 401: {}, 403: {}, 429: {}, 503: {}}
)
async def set_plan(
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    change: PlanChange,
    gateway: GatewayDep,
    user: CurrentUser,
) -> UsagePublic:
    if not user.is_admin:
        raise ApiError(403, {"error": "Forbidden", "message": "Only administrators can change plans."})
    summary = await gateway.usage.set_plan(user_id, change.plan)
    gateway.limits.plans.forget(user_id)
    # After the change took effect: the audit says what happened, not what was attempted.
    await gateway.catalog.pool.execute(
        "INSERT INTO gateway.admin_audit (actor_id, action, target_user_id, detail) VALUES ($1, $2, $3, $4::jsonb)",
        user.user_id,
        "set_plan",
        user_id,
        json.dumps({"plan": change.plan.value}),
    )
    return UsagePublic.model_validate(summary.model_dump())


@router.get("/audit", response_model=AuditPublic, responses={400: {}, 401: {}, 403: {}, 429: {}, 503: {}})
async def audit(
    gateway: GatewayDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    target_user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> AuditPublic:
    """The newest administrator actions first."""
    if not user.is_admin:
        raise _forbidden()
    rows = await gateway.catalog.pool.fetch(
        "SELECT id, at, actor_id, action, target_user_id, detail FROM gateway.admin_audit"
        " WHERE $2::text IS NULL OR target_user_id = $2 ORDER BY id DESC LIMIT $1",
        limit,
        target_user_id,
    )
    return AuditPublic(
        entries=[AuditEntryPublic.model_validate({**dict(row), "detail": json.loads(row["detail"])}) for row in rows]
    )

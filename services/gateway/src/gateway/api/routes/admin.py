"""Operations for administrators (a JWT whose role claim is `admin`)."""

from typing import Annotated

from fastapi import APIRouter, Path

from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError
from ..schemas import PlanChange, UsagePublic

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.put("/users/{user_id}/plan", response_model=UsagePublic, responses={400: {}, 401: {}, 403: {}, 503: {}})
async def set_plan(
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    change: PlanChange,
    gateway: GatewayDep,
    user: CurrentUser,
) -> UsagePublic:
    if not user.is_admin:
        raise ApiError(403, {"error": "Forbidden", "message": "Only administrators can change plans."})
    summary = await gateway.usage.set_plan(user_id, change.plan)
    return UsagePublic.model_validate(summary.model_dump())

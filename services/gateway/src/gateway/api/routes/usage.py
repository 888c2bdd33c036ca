"""The user's plan and this month's usage."""

from fastapi import APIRouter

from ..deps import CurrentUser, GatewayDep
from ..schemas import UsagePublic

router = APIRouter(prefix="/api", tags=["usage"])


@router.get("/usage", response_model=UsagePublic, responses={401: {}, 503: {}})
async def get_usage(gateway: GatewayDep, user: CurrentUser) -> UsagePublic:
    summary = await gateway.usage.summary(user.user_id)
    return UsagePublic.model_validate(summary.model_dump())

"""The user's plan, this month's usage, and the on-demand captions they have left."""

from fastapi import APIRouter

from ..deps import CurrentUser, GatewayDep
from ..schemas import UsagePublic

router = APIRouter(prefix="/api", tags=["usage"])


class UsageWithCaptionsPublic(UsagePublic):
    caption_limit: int | None
    captions_used: int
    captions_remaining: int | None


@router.get("/usage", response_model=UsageWithCaptionsPublic, responses={401: {}, 429: {}, 503: {}})
async def get_usage(gateway: GatewayDep, user: CurrentUser) -> UsageWithCaptionsPublic:
    summary = await gateway.usage.summary(user.user_id)
    captions = await gateway.limits.caption_usage(user.user_id, summary.plan)
    remaining = None if captions.limit is None else max(0, captions.limit - captions.used)
    return UsageWithCaptionsPublic.model_validate(
        {
            **summary.model_dump(),
            "caption_limit": captions.limit,
            "captions_used": captions.used,
            "captions_remaining": remaining,
        }
    )

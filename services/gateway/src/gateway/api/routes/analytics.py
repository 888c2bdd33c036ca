"""Analytics for admins (GET /api/admin/analytics) and each user's own monthly history, both read
from the analytics projection (gateway/analytics.py), never from the catalog."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError

router = APIRouter(tags=["analytics"])

MAX_RANGE = timedelta(days=366)


@router.get("/api/admin/analytics", responses={400: {}, 401: {}, 403: {}, 429: {}, 503: {}})
async def analytics(
    gateway: GatewayDep,
    user: CurrentUser,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    granularity: Annotated[Literal["day"], Query()] = "day",
) -> dict[str, Any]:
    if not user.is_admin:
        raise ApiError(403, {"error": "Forbidden", "message": "Only administrators can see analytics."})
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(days=30)
    if not start < end or end - start > MAX_RANGE:
        raise ApiError(400, {"error": "Invalid range", "message": "from must be before to, at most a year apart."})
    report = await gateway.analytics.report(start, end)
    return {"from": start, "to": end, "granularity": granularity, **report}


@router.get("/api/usage/history", responses={401: {}, 429: {}, 503: {}})
async def usage_history(gateway: GatewayDep, user: CurrentUser) -> dict[str, Any]:
    return {"months": await gateway.analytics.history(user.user_id)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

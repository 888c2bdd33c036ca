"""The gateway's side of the request/reply exchange with the usage service."""

from datetime import datetime
from typing import TypeVar
from uuid import UUID

from faststream.nats import NatsBroker
from pydantic import BaseModel

from aistudio_contracts import (
    GetUsage,
    Message,
    Plan,
    QuotaReservation,
    ReleaseQuota,
    ReserveQuota,
    SetPlan,
    UsageSummary,
)

R = TypeVar("R", bound=BaseModel)


class UsageUnavailable(Exception):
    """The usage service did not answer in time: nothing may be accepted unmetered."""


class UsageClient:
    def __init__(self, broker: NatsBroker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def _ask(self, message: Message, reply_type: type[R]) -> R:
        try:
            response = await self._broker.request(
                message.to_json(),
                message.subject,
                timeout=self._timeout,
            )
            return reply_type.model_validate_json(response.body)
        except Exception as exc:
            raise UsageUnavailable(f"usage service did not answer: {exc!r}") from exc

    async def reserve(self, request_id: UUID, user_id: str, deadline_at: datetime) -> QuotaReservation:
        request = ReserveQuota(request_id=request_id, user_id=user_id, deadline_at=deadline_at)
        return await self._ask(request, QuotaReservation)

    async def release(self, request_id: UUID, user_id: str) -> UsageSummary:
        return await self._ask(ReleaseQuota(request_id=request_id, user_id=user_id), UsageSummary)

    async def summary(self, user_id: str) -> UsageSummary:
        return await self._ask(GetUsage(user_id=user_id), UsageSummary)

    async def set_plan(self, user_id: str, plan: Plan) -> UsageSummary:
        return await self._ask(SetPlan(user_id=user_id, plan=plan), UsageSummary)

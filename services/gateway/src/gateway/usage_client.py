"""The gateway's side of the request/reply exchange with the usage service."""

import asyncio
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
from aistudio_runtime import get_logger

R = TypeVar("R", bound=BaseModel)
log = get_logger(__name__)
# Over about half a minute; past that the usage service's own sweeper gives the unit back at the deadline.
WITHDRAW_ATTEMPTS = 5


class UsageUnavailable(Exception):
    """The usage service did not answer in time: nothing may be accepted unmetered."""


class UsageClient:
    def __init__(self, broker: NatsBroker, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout
        self._withdrawals: set[asyncio.Task[None]] = set()

    def withdraw_soon(self, request_id: UUID, user_id: str) -> None:
        """A reserve whose answer never came may still have taken a unit: give it back in the
        background (a release that arrives first leaves a tombstone that refuses the late reserve)."""
        task = asyncio.create_task(self._withdraw(request_id, user_id))
        self._withdrawals.add(task)
        task.add_done_callback(self._withdrawals.discard)

    async def _withdraw(self, request_id: UUID, user_id: str) -> None:
        for attempt in range(WITHDRAW_ATTEMPTS):
            try:
                await self.release(request_id, user_id)
                return
            except UsageUnavailable:
                await asyncio.sleep(min(2.0**attempt, 10.0))
        log.warning("quota_withdrawal_gave_up", request_id=str(request_id))

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

    async def reserve(
        self, request_id: UUID, user_id: str, deadline_at: datetime, also: list[UUID] | None = None
    ) -> QuotaReservation:
        """One unit for `request_id`, and one for each of `also` (variants): all of them or none."""
        request = ReserveQuota(request_id=request_id, user_id=user_id, deadline_at=deadline_at, also_request_ids=also)
        return await self._ask(request, QuotaReservation)

    async def release(self, request_id: UUID, user_id: str) -> UsageSummary:
        return await self._ask(ReleaseQuota(request_id=request_id, user_id=user_id), UsageSummary)

    async def summary(self, user_id: str) -> UsageSummary:
        return await self._ask(GetUsage(user_id=user_id), UsageSummary)

    async def set_plan(self, user_id: str, plan: Plan) -> UsageSummary:
        return await self._ask(SetPlan(user_id=user_id, plan=plan), UsageSummary)

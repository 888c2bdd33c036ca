"""The gateway's side of the request/reply exchange with the usage service: the meter and plan
changes. Units of quota are not asked for here: the accept transaction takes them through usage's
own function (catalog.py, usage.reserve_units)."""

from typing import TypeVar

from faststream.nats import NatsBroker
from pydantic import BaseModel

from aistudio_contracts import (
    GetUsage,
    Message,
    Plan,
    SetPlan,
    UsageSummary,
)

R = TypeVar("R", bound=BaseModel)


class UsageUnavailable(Exception):
    """The usage service did not answer in time, or has never started (no quota rule): nothing may
    be accepted unmetered."""


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

    async def summary(self, user_id: str) -> UsageSummary:
        return await self._ask(GetUsage(user_id=user_id), UsageSummary)

    async def set_plan(self, user_id: str, plan: Plan) -> UsageSummary:
        return await self._ask(SetPlan(user_id=user_id, plan=plan), UsageSummary)

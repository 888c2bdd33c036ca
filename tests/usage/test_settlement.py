"""The usage service over real NATS and Postgres: the catalog's verdict settles each unit once."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import nats
import pytest
from nats.aio.client import Client

from aistudio_contracts import (
    GenerationSettled,
    GetUsage,
    Plan,
    QuotaReservation,
    ReleaseQuota,
    ReserveQuota,
    SetPlan,
    SubscriptionChanged,
    UsageSummary,
)
from aistudio_contracts.envelope import Message
from aistudio_contracts.subjects import EVENTS_STREAM
from usage.app import create_app
from usage.settings import UsageSettings

from ..support.services import common_env, running

pytestmark = pytest.mark.integration

SETTLED_DURABLE = "usage-generation-settled"
PLANS_DURABLE = "usage-subscription-changed"
Reply = TypeVar("Reply", bound=Message)


@pytest.fixture
async def client(nats_url: str, database_url: str) -> AsyncIterator[Client]:
    settings = UsageSettings(**common_env(nats_url, database_url))
    async with running(create_app(settings)):
        connection = await nats.connect(nats_url)
        try:
            yield connection
        finally:
            await connection.close()


async def _ask(client: Client, request: Message, reply: type[Reply]) -> Reply:
    response = await client.request(request.subject, request.to_json(), timeout=30)
    return reply.model_validate_json(response.data)


async def _usage(client: Client, user: str) -> UsageSummary:
    return await _ask(client, GetUsage(user_id=user), UsageSummary)


async def _reserve(client: Client, user: str, request_id: UUID | None = None) -> QuotaReservation:
    deadline = datetime.now(UTC) + timedelta(minutes=20)
    request = ReserveQuota(request_id=request_id or uuid4(), user_id=user, deadline_at=deadline)
    return await _ask(client, request, QuotaReservation)


def _verdict(asset_id: UUID, user: str, outcome: str, *, charged: bool, late: bool = False) -> GenerationSettled:
    values: dict[str, Any] = {"outcome": outcome, "charged": charged, "late": late}
    return GenerationSettled(correlation_id=asset_id, asset_id=asset_id, user_id=user, **values)


async def _publish_and_drain(client: Client, durable: str, *events: GenerationSettled | SubscriptionChanged) -> None:
    """Publish, then wait until the consumer has acknowledged everything it was given."""
    js = client.jetstream()
    last = 0
    for event in events:
        ack = await js.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)})
        last = ack.seq
    for _ in range(600):
        info = await js.consumer_info(EVENTS_STREAM.name, durable)
        if info.delivered.stream_seq >= last and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{durable} did not drain")


async def _reserved_asset(client: Client, user: str) -> UUID:
    asset_id = uuid4()
    assert (await _reserve(client, user, asset_id)).granted
    return asset_id


async def test_a_charged_verdict_uses_the_unit(client: Client) -> None:
    asset_id = await _reserved_asset(client, "ada")
    await _publish_and_drain(client, SETTLED_DURABLE, _verdict(asset_id, "ada", "ready", charged=True))
    usage = await _usage(client, "ada")
    assert (usage.used, usage.reserved) == (1, 0)


async def test_a_verdict_not_charged_gives_the_unit_back(client: Client) -> None:
    asset_id = await _reserved_asset(client, "bo")
    await _publish_and_drain(client, SETTLED_DURABLE, _verdict(asset_id, "bo", "error", charged=False))
    usage = await _usage(client, "bo")
    assert (usage.used, usage.reserved, usage.remaining) == (0, 0, 10)


async def test_a_verdict_delivered_twice_counts_once(client: Client) -> None:
    asset_id = await _reserved_asset(client, "cy")
    first, second = (_verdict(asset_id, "cy", "ready", charged=True) for _ in range(2))
    await _publish_and_drain(client, SETTLED_DURABLE, first, second)
    usage = await _usage(client, "cy")
    assert (usage.used, usage.reserved) == (1, 0)


async def test_a_late_success_after_an_error_changes_nothing(client: Client) -> None:
    asset_id = await _reserved_asset(client, "di")
    await _publish_and_drain(client, SETTLED_DURABLE, _verdict(asset_id, "di", "error", charged=False))
    await _publish_and_drain(client, SETTLED_DURABLE, _verdict(asset_id, "di", "ready", charged=False, late=True))
    usage = await _usage(client, "di")
    assert (usage.used, usage.reserved, usage.remaining) == (0, 0, 10)


async def test_a_release_before_its_reserve_refuses_the_reserve_and_takes_nothing(client: Client) -> None:
    request_id = uuid4()
    await _ask(client, ReleaseQuota(request_id=request_id, user_id="ed"), UsageSummary)
    reservation = await _reserve(client, "ed", request_id)
    assert not reservation.granted
    assert (reservation.usage.reserved, reservation.usage.remaining) == (0, 10)


async def test_a_release_of_a_held_unit_gives_it_back_at_once(client: Client) -> None:
    asset_id = await _reserved_asset(client, "flo")
    usage = await _ask(client, ReleaseQuota(request_id=asset_id, user_id="flo"), UsageSummary)
    assert (usage.used, usage.reserved, usage.remaining) == (0, 0, 10)


async def test_an_older_plan_change_from_billing_never_overwrites_a_newer_one(client: Client) -> None:
    now = datetime.now(UTC)
    await _ask(client, SetPlan(user_id="gus", plan=Plan.PRO, effective_at=now), UsageSummary)
    older = SubscriptionChanged(
        correlation_id=uuid4(), user_id="gus", plan=Plan.FREE, effective_at=now - timedelta(minutes=5)
    )
    await _publish_and_drain(client, PLANS_DURABLE, older)
    assert (await _usage(client, "gus")).plan is Plan.PRO
    newer = SubscriptionChanged(correlation_id=uuid4(), user_id="gus", plan=Plan.FREE)
    await _publish_and_drain(client, PLANS_DURABLE, newer)
    assert (await _usage(client, "gus")).plan is Plan.FREE

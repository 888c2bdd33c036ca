"""Keeps the analytics projection current: its own durable consumers of the lifecycle events, apart
from the catalog's, so a slow dashboard table never holds up what users see."""

from faststream.nats import NatsBroker

from aistudio_contracts import GenerationCompleted, GenerationRequested, GenerationSettled, ProviderCostRecorded
from aistudio_runtime import durable_subscriber

from .analytics import AnalyticsProjection


def register(broker: NatsBroker, projection: AnalyticsProjection) -> None:
    @durable_subscriber(broker, GenerationRequested, "gateway-analytics-requested")
    async def on_requested(event: GenerationRequested) -> None:
        await projection.requested(event)

    @durable_subscriber(broker, GenerationCompleted, "gateway-analytics-completed")
    async def on_completed(event: GenerationCompleted) -> None:
        await projection.completed(event)

    @durable_subscriber(broker, GenerationSettled, "gateway-analytics-settled")
    async def on_settled(event: GenerationSettled) -> None:
        await projection.settled(event)

    @durable_subscriber(broker, ProviderCostRecorded, "gateway-analytics-costs", batch_size=64)
    async def on_cost(event: ProviderCostRecorded) -> None:
        await projection.cost(event)

"""GenerationRequested in; the submitter decides; a retry becomes a delayed redelivery."""

import structlog
from faststream.exceptions import NackMessage
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from aistudio_contracts import GenerationRequested
from aistudio_runtime import delivery_attempt, durable_subscriber, get_logger

from .settings import GeneratorSettings
from .submission import RetryLater, Submitter

log = get_logger(__name__)


def register(broker: NatsBroker, submitter: Submitter, settings: GeneratorSettings) -> None:
    @durable_subscriber(
        broker,
        GenerationRequested,
        "generator-generation-requested",
        batch_size=settings.submit_concurrency,
        ack_wait_seconds=settings.ack_wait_seconds,
    )
    async def on_generation_requested(event: GenerationRequested, msg: NatsMessage) -> None:
        with structlog.contextvars.bound_contextvars(asset_id=str(event.asset_id), user_id=event.user_id):
            try:
                await submitter.handle(event, delivery_attempt(msg), msg.in_progress)
            except RetryLater as retry:
                log.info("retry_later", why=str(retry), delay=round(retry.delay, 2))
                raise NackMessage(delay=retry.delay) from retry

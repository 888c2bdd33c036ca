"""Thin transport adapters: events and requests in, the captioner decides, replies out."""

import structlog
from faststream.exceptions import NackMessage
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from aistudio_contracts import CaptionReply, CaptionSettingsChanged, GenerateCaption, GenerationCompleted, subjects
from aistudio_runtime import delivery_attempt, durable_subscriber, get_logger
from aistudio_runtime.messaging import redelivery_delay

from .captioning import Captioner, RetryLater
from .metrics import CAPTIONS
from .records import SystemPrompts
from .settings import CaptionerSettings

log = get_logger(__name__)


def register(broker: NatsBroker, captioner: Captioner, prompts: SystemPrompts, settings: CaptionerSettings) -> None:
    @durable_subscriber(
        broker,
        GenerationCompleted,
        "captioner-generation-completed",
        batch_size=settings.caption_concurrency,
        ack_wait_seconds=settings.ack_wait_seconds,
    )
    async def on_generation_completed(event: GenerationCompleted, msg: NatsMessage) -> None:
        delivery = delivery_attempt(msg)
        with structlog.contextvars.bound_contextvars(asset_id=str(event.asset_id), user_id=event.user_id):
            try:
                outcome = await captioner.caption_completed(event)
            except RetryLater as retry:
                CAPTIONS.labels("automatic", "retry_later").inc()
                delay = redelivery_delay(delivery)
                log.info("caption_retry_later", why=str(retry), delivery=delivery, delay=delay)
                raise NackMessage(delay=delay) from retry
            CAPTIONS.labels("automatic", outcome.value).inc()
            log.info("caption_" + outcome.value, delivery=delivery)

    @durable_subscriber(broker, CaptionSettingsChanged, "captioner-caption-settings-changed")
    async def on_caption_settings_changed(event: CaptionSettingsChanged) -> None:
        if await prompts.apply(event):
            log.info("caption_settings_updated", user_id=event.user_id, version=event.version)

    # Several users may be waiting at once, each for seconds: answer them side by side.
    @broker.subscriber(
        subjects.CAPTION_GENERATE,
        queue=subjects.CAPTIONER_QUEUE,
        max_workers=settings.caption_concurrency,
        title="captioner:generate",
    )
    async def generate_caption(request: GenerateCaption) -> CaptionReply:
        reply = await captioner.caption_on_demand(request)
        CAPTIONS.labels("on_demand", "captioned" if reply.success else "failed").inc()
        return reply

"""JetStream wiring: the broker, the events stream, durable pull subscribers and publishing.

FastStream's defaults are not safe for paid work (see shared/reference/reliability.md), so
every choice is explicit here: publishing always waits for a PubAck and sets `Nats-Msg-Id`;
subscribers are durable pull consumers; a failed handler is redelivered after a growing
delay instead of being dropped or retried in a hot loop; only a message that can never be
parsed is terminated; shutdown waits for running handlers.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import BaseMiddleware
from faststream.exceptions import HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from aistudio_contracts import Event
from aistudio_contracts.subjects import EVENTS_STREAM, StreamSettings

from .logging import get_logger

log = get_logger(__name__)

MAX_REDELIVERY_DELAY_SECONDS = 60.0


def redelivery_delay(attempt: int) -> float:
    """1 s, 2 s, 4 s, … capped at a minute: a database blip is outlasted, not hammered."""
    return min(2.0 ** max(attempt - 1, 0), MAX_REDELIVERY_DELAY_SECONDS)


def delivery_attempt(msg: NatsMessage) -> int:
    """Which delivery of this message the handler is seeing (1 for the first)."""
    return int(msg.raw_message.metadata.num_delivered)


def stream_config(settings: StreamSettings = EVENTS_STREAM) -> StreamConfig:
    return StreamConfig(
        name=settings.name,
        subjects=list(settings.subjects),
        storage=StorageType.FILE if settings.file_storage else StorageType.MEMORY,
        duplicate_window=settings.duplicate_window.total_seconds(),
        max_age=settings.max_age.total_seconds(),
        num_replicas=settings.replicas,
    )


async def ensure_stream(js: JetStreamContext, settings: StreamSettings = EVENTS_STREAM) -> None:
    """Create the stream, or bring an existing one to the settings in code."""
    config = stream_config(settings)
    try:
        await js.stream_info(settings.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


class RedeliverWithBackoff(BaseMiddleware):
    """Turns a handler's exception into a delayed redelivery; a message that cannot be parsed is terminated."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        try:
            return await call_next(msg)
        except HandlerException:
            raise
        except ValidationError as exc:
            log.error("message_rejected_unparseable", subject=_subject(msg), error=str(exc))
            raise RejectMessage() from exc
        except Exception as exc:
            attempt = _attempt(msg)
            delay = redelivery_delay(attempt)
            log.warning(
                "handler_failed_will_retry",
                subject=_subject(msg),
                attempt=attempt,
                delay=delay,
                error=repr(exc),
                exc_info=logging.getLogger().isEnabledFor(logging.DEBUG),
            )
            raise NackMessage(delay=delay) from exc


def _attempt(msg: StreamMessage[Any]) -> int:
    metadata = getattr(msg.raw_message, "metadata", None)
    return int(getattr(metadata, "num_delivered", 1) or 1)


def _subject(msg: StreamMessage[Any]) -> str:
    return str(getattr(msg.raw_message, "subject", "?"))


def create_broker(nats_url: str, *, name: str, graceful_timeout: float) -> NatsBroker:
    return NatsBroker(
        nats_url,
        name=name,
        graceful_timeout=graceful_timeout,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        middlewares=[RedeliverWithBackoff],
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        # One line per message in and out costs real CPU at volume; shown with LOG_LEVEL=DEBUG.
        log_level=logging.DEBUG,
    )


EVENTS = JStream(EVENTS_STREAM.name, declare=False)


def durable_subscriber(
    broker: NatsBroker,
    event: type[Event],
    durable: str,
    *,
    batch_size: int = 16,
    ack_wait_seconds: float = 60.0,
    max_ack_pending: int = 1000,
    description: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], object]:
    """A durable pull consumer of one event type, shared by all replicas of a service.

    Note: JetStream keeps the first config a durable consumer was created with; changing
    these arguments later needs the consumer deleted or updated by hand (see the README).
    """
    subscriber: Callable[[Callable[..., Awaitable[Any]]], object] = broker.subscriber(
        event.subject,
        stream=EVENTS,
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=5.0),
        config=ConsumerConfig(
            durable_name=durable,
            ack_wait=ack_wait_seconds,
            max_ack_pending=max_ack_pending,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,
        ),
        title=f"{durable}:{event.__name__}",
        description=description,
    )
    return subscriber


async def publish_event(broker: NatsBroker, subject: str, payload: bytes, event_id: str) -> None:
    """Publish to JetStream and wait for its PubAck; the event id de-duplicates republishes."""
    await broker.publish(
        payload,
        subject,
        headers={"Nats-Msg-Id": event_id, "content-type": "application/json"},
        stream=EVENTS_STREAM.name,
        timeout=5.0,
    )

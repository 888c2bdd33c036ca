"""JetStream wiring: the broker, the streams, durable pull subscribers and publishing.

FastStream's defaults are not safe for paid work (see shared/reference/reliability.md), so
every choice is explicit here: publishing always waits for a PubAck and sets `Nats-Msg-Id`;
subscribers are durable pull consumers whose ack wait and delivery limit come from the
service's settings; a failed handler is redelivered after a growing delay, and on its last
delivery (or at once, when its bytes are not even JSON) the message is kept in the dead-letter
stream and announced with MessageDeadLettered, never dropped; shutdown waits for running handlers.
"""

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from faststream import BaseMiddleware
from faststream._internal.context.repository import ContextRepo
from faststream.exceptions import HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

from aistudio_contracts import Event
from aistudio_contracts.subjects import EVENTS_STREAM, StreamSettings

from . import dead_letter, metrics, traced_messages, tracing
from .delivery import DeliveryPolicy
from .logging import get_logger
from .settings import ServiceSettings

log = get_logger(__name__)

MAX_REDELIVERY_DELAY_SECONDS = 60.0
PUBLISH_TIMEOUT_SECONDS = 5.0


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
    """Create the stream when it is missing. An existing one is never updated: an operator may have
    given it more replicas or a longer age on purpose, and a service started with older or smaller
    settings must not scale an R3 stream back to R1 or cut its retention; differences are logged."""
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(settings.name)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("stream_created", stream=settings.name, replicas=wanted.num_replicas)
        return
    differences = {
        field: {"code": getattr(wanted, field), "server": getattr(info.config, field)}
        for field in ("subjects", "storage", "duplicate_window", "max_age", "num_replicas")
        if _comparable(getattr(wanted, field)) != _comparable(getattr(info.config, field))
    }
    if differences:
        log.warning("stream_config_differs", stream=settings.name, differences=differences)


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return round(float(value), 3)
    return value


class DeadLetters:
    """One broker's delivery policy and its way to keep what its consumers give up on.

    FastStream builds a middleware per message by calling its factory; this object is that
    factory, so each middleware knows the policy and can publish through the broker."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self.policy = policy
        self.broker: NatsBroker | None = None

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> "RedeliverWithBackoff":
        return RedeliverWithBackoff(msg, context=context, dead_letters=self)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], stream: str) -> None:
        if self.broker is None:
            raise RuntimeError("the dead-letter path has no broker")
        js = self.broker.connection.jetstream()
        await js.publish(subject, payload, timeout=PUBLISH_TIMEOUT_SECONDS, stream=stream, headers=headers)

    async def give_up(self, msg: Msg, exc: BaseException, attempts: int) -> HandlerException:
        """Keep the message, and say how to settle it: terminate it once kept, otherwise try later."""
        metadata = msg.metadata
        message = dead_letter.Undeliverable(
            durable=metadata.consumer or "unknown",
            subject=msg.subject,
            stream=metadata.stream or EVENTS_STREAM.name,
            stream_sequence=metadata.sequence.stream if metadata.sequence else 0,
            attempts=attempts,
            payload=msg.data,
            headers=dict(msg.headers or {}),
            error=dead_letter.describe(exc),
        )
        try:
            event = await dead_letter.keep(message, self.publish, EVENTS_STREAM.name)
        except Exception as publish_error:
            delay = redelivery_delay(attempts)
            log.error(
                "dead_letter_failed_will_retry",
                durable=message.durable,
                subject=message.subject,
                attempts=attempts,
                delay=delay,
                error=repr(publish_error),
            )
            return NackMessage(delay=delay)
        metrics.DEAD_LETTERS.labels(message.durable).inc()
        log.error(
            "message_dead_lettered",
            durable=message.durable,
            subject=message.subject,
            dead_letter_subject=message.dead_letter_subject,
            stream_sequence=message.stream_sequence,
            attempts=attempts,
            error=message.error,
            asset_id=str(event.asset_id) if event and event.asset_id else None,
        )
        return RejectMessage()


class RedeliverWithBackoff(BaseMiddleware):
    """Turns a handler's exception into a delayed redelivery, and its last one into a dead letter.

    A message that does not validate is retried like any failure: during a rolling deploy a newer
    replica may understand it. Bytes that are not JSON at all are kept at once; no replica can."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, dead_letters: DeadLetters) -> None:
        super().__init__(msg, context=context)
        self._dead_letters = dead_letters

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        policy = self._dead_letters.policy
        jetstream = _jetstream_message(msg)
        if jetstream is not None and _attempt(msg) > 1:
            metrics.REDELIVERIES.labels(_subject(msg)).inc()
        try:
            return await call_next(msg)
        except NackMessage as nack:
            # The handler asked to be called again later; on the server's last delivery there is no
            # later, and the message would sit unacknowledged for good.
            attempt = _attempt(msg)
            if jetstream is not None and attempt >= policy.consumer_max_deliver:
                raise await self._dead_letters.give_up(jetstream, nack, attempt) from nack
            raise
        except HandlerException:
            raise
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if jetstream is None:
                log.error("message_rejected_unparseable", subject=_subject(msg), error=str(exc))
                raise RejectMessage() from exc
            raise await self._dead_letters.give_up(jetstream, exc, _attempt(msg)) from exc
        except Exception as exc:
            attempt = _attempt(msg)
            if jetstream is not None and attempt >= policy.max_deliver:
                raise await self._dead_letters.give_up(jetstream, exc, attempt) from exc
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


def _jetstream_message(msg: StreamMessage[Any]) -> Msg | None:
    """The JetStream message behind `msg`; None for core NATS (request/reply), which has no
    stream to keep it in."""
    raw = msg.raw_message
    if not isinstance(raw, Msg):
        return None
    try:
        raw.metadata  # noqa: B018  (parses the reply subject; raises for core NATS)
    except Exception:
        return None
    return raw


def _attempt(msg: StreamMessage[Any]) -> int:
    raw = _jetstream_message(msg)
    return int(raw.metadata.num_delivered or 1) if raw is not None else 1


def _subject(msg: StreamMessage[Any]) -> str:
    return str(getattr(msg.raw_message, "subject", "?"))


# The delivery policy of every broker `create_broker` made, for its `durable_subscriber`s.
_POLICIES: "WeakKeyDictionary[NatsBroker, DeliveryPolicy]" = WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class Durable:
    """A durable consumer a service binds at start: what `prepare_jetstream` creates or waits for."""

    stream: str
    subject: str
    name: str
    config: ConsumerConfig


# Every durable consumer declared on a broker, in declaration order.
_DURABLES: "WeakKeyDictionary[NatsBroker, list[Durable]]" = WeakKeyDictionary()

# What a JetStream API call answers while a cluster forms, elects a consumer's leader or has lost
# quorum: no answer in time, nobody to answer, or "try again". Worth waiting out at start.
_NOT_YET = (asyncio.TimeoutError, NatsTimeoutError, NoRespondersError, ServiceUnavailableError)


def durables(broker: NatsBroker) -> list[Durable]:
    return list(_DURABLES.get(broker, ()))


async def prepare_jetstream(
    js: JetStreamContext,
    streams: list[StreamSettings],
    wanted: list[Durable],
    *,
    wait_seconds: float,
    call_timeout: float,
) -> None:
    """Ensure the streams, then create or find every durable consumer before the broker binds
    them, waiting out a cluster that cannot answer yet.

    FastStream's start asks once and exits on the first timeout. On a three-node cluster a
    consumer another replica has just created answers nothing until its Raft group has elected a
    leader, twelve processes creating R3 consumers at once can keep the API busy for longer than
    one call's timeout, and a cluster without quorum answers nothing at all: a starting replica
    must wait, not die. Past `wait_seconds` in all it raises, and the orchestrator restarts it."""
    deadline = time.monotonic() + wait_seconds
    for stream in streams:
        await _until_answered(partial(ensure_stream, js, stream), deadline, stream=stream.name)
    for durable in wanted:
        await _until_answered(
            partial(_ensure_consumer, js, durable, call_timeout), deadline, stream=durable.stream, consumer=durable.name
        )


async def _until_answered(call: Callable[[], Awaitable[None]], deadline: float, **about: str) -> None:
    delay = 0.5
    while True:
        try:
            await call()
            return
        except _NOT_YET as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("jetstream_not_ready_yet", error=type(exc).__name__, retry_in=delay, **about)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _ensure_consumer(js: JetStreamContext, durable: Durable, call_timeout: float) -> None:
    try:
        await js.consumer_info(durable.stream, durable.name, timeout=call_timeout)
        return
    except NotFoundError:
        pass
    config = dataclasses.replace(
        durable.config, name=durable.name, durable_name=durable.name, filter_subject=durable.subject
    )
    try:
        await js.add_consumer(durable.stream, config=config, timeout=call_timeout)
        log.info("consumer_created", stream=durable.stream, consumer=durable.name)
    except BadRequestError:
        # Another replica created it first (with the same config): it is there, which is all we need.
        await js.consumer_info(durable.stream, durable.name, timeout=call_timeout)


def create_broker(settings: ServiceSettings, *, name: str) -> NatsBroker:
    """The service's broker. Its delivery policy (ACK_WAIT_SECONDS, MAX_DELIVER) applies to every
    durable consumer made with `durable_subscriber`, and to the dead-letter path."""
    dead_letters = DeadLetters(settings.delivery)
    tracing.configure_tracing(name, settings.otel_exporter_otlp_endpoint)
    broker = NatsBroker(
        # A cluster's seeds (NATS_URL comma-separated): the client fails over between them and
        # learns the other members from the one it reaches.
        settings.nats_servers,
        name=name,
        graceful_timeout=settings.shutdown_grace_seconds,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # Metrics outermost, so they see how the dead-letter path settled each message.
        middlewares=[metrics.message_middleware(name), *traced_messages.middlewares(), dead_letters],
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        js_options={"timeout": settings.jetstream_api_timeout_seconds},
        # One line per message in and out costs real CPU at volume; shown with LOG_LEVEL=DEBUG.
        log_level=logging.DEBUG,
    )
    dead_letters.broker = broker
    _POLICIES[broker] = dead_letters.policy
    return broker


def delivery_policy(broker: NatsBroker) -> DeliveryPolicy:
    return _POLICIES.get(broker) or DeliveryPolicy()


EVENTS = JStream(EVENTS_STREAM.name, declare=False)


def durable_subscriber(
    broker: NatsBroker,
    event: type[Event],
    durable: str,
    *,
    batch_size: int = 16,
    ack_wait_seconds: float | None = None,
    max_ack_pending: int = 1000,
    description: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], object]:
    """A durable pull consumer of one event type, shared by all replicas of a service.

    Its ack wait and delivery limit are the broker's delivery policy (`create_broker(delivery=)`);
    `ack_wait_seconds` overrides the ack wait for this consumer only.

    Note: JetStream keeps the first config a durable consumer was created with; changing
    these arguments later needs the consumer deleted or updated by hand (see the README).
    """
    policy = delivery_policy(broker)
    config = ConsumerConfig(
        durable_name=durable,
        ack_wait=ack_wait_seconds if ack_wait_seconds is not None else policy.ack_wait_seconds,
        max_ack_pending=max_ack_pending,
        deliver_policy=DeliverPolicy.ALL,
        # A backstop only: the middleware dead-letters on delivery `policy.max_deliver`.
        max_deliver=policy.consumer_max_deliver,
        # 0: the consumer has as many replicas as its stream, so an R3 stream's consumers
        # survive the same node loss the stream does (and follow an operator's rescale).
        num_replicas=0,
    )
    _DURABLES.setdefault(broker, []).append(Durable(EVENTS.name, event.subject, durable, config))
    subscriber: Callable[[Callable[..., Awaitable[Any]]], object] = broker.subscriber(
        event.subject,
        stream=EVENTS,
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=5.0),
        # A copy: FastStream and nats-py fill in fields of the config they are given.
        config=dataclasses.replace(config),
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
        timeout=PUBLISH_TIMEOUT_SECONDS,
    )

"""Bounded redelivery, the dead-letter stream and its operator commands, on a real JetStream."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest
from faststream.exceptions import NackMessage
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from aistudio_contracts import GenerationFailed, MessageDeadLettered, TaskStarted
from aistudio_contracts.catalog import FailureReason, MediaType, Provider
from aistudio_contracts.subjects import DEAD_LETTER_STREAM, DLQ_PREFIX, EVENTS_STREAM
from aistudio_runtime import ServiceRuntime, ServiceSettings, create_broker, durable_subscriber, publish_event
from aistudio_runtime import dead_letter as headers
from aistudio_runtime.deadletters import DeadLetter, drop, list_dead_letters, replay, run, show
from aistudio_runtime.delivery import CONSUMER_MAX_DELIVER_MARGIN
from aistudio_runtime.messaging import ensure_stream

pytestmark = pytest.mark.integration

MAX_DELIVER = 3
WAIT_SECONDS = 60.0


async def eventually(check: Callable[[], Awaitable[Any]], *, what: str, within: float = WAIT_SECONDS) -> Any:
    """Poll until `check` returns something truthy; generous, because the machine may be loaded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@dataclass
class Service:
    broker: NatsBroker
    runtime: ServiceRuntime
    js: JetStreamContext
    dead_lettered: list[MessageDeadLettered] = field(default_factory=list)

    async def letters_of(self, durable: str) -> list[DeadLetter]:
        return [letter for letter in await list_dead_letters(self.js) if letter.durable == durable]

    def announcements_of(self, durable: str) -> list[MessageDeadLettered]:
        return [event for event in self.dead_lettered if event.durable == durable]


Register = Callable[[NatsBroker], None]


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    with contextlib.suppress(Exception):
        await js.delete_stream(DEAD_LETTER_STREAM.name)  # a shared server keeps other tests' letters
    yield connection
    await connection.close()


@pytest.fixture
async def start_service(
    nats_url: str, database_url: str, client: Client
) -> AsyncIterator[Callable[[Register], Awaitable[Service]]]:
    """A service (the runtime as a real one uses it) whose handlers the test registers."""
    started: list[Service] = []

    async def start(register: Register) -> Service:
        settings = ServiceSettings(
            nats_url=nats_url, database_url=database_url, max_deliver=MAX_DELIVER, ack_wait_seconds=30.0
        )
        broker = create_broker(settings, name=f"test-{uuid4().hex[:6]}")
        runtime = ServiceRuntime(settings, "usage", broker)
        service = Service(broker, runtime, client.jetstream())

        @durable_subscriber(broker, MessageDeadLettered, f"observer-{uuid4().hex[:6]}")
        async def observe(event: MessageDeadLettered) -> None:
            service.dead_lettered.append(event)

        register(broker)
        await runtime.on_startup()
        await broker.start()
        await runtime.after_startup()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.runtime.on_shutdown()
        await service.broker.stop()
        await service.runtime.after_shutdown()


def failed(**overrides: Any) -> GenerationFailed:
    values: dict[str, Any] = {
        "correlation_id": (asset_id := uuid4()),
        "asset_id": asset_id,
        "user_id": "user-1",
        "provider": Provider.KIE_VEO3,
        "reason": FailureReason.TIMEOUT,
        "message": "took too long",
    }
    return GenerationFailed(**{**values, **overrides})


async def publish(service: Service, subject: str, body: bytes, msg_id: str | None = None) -> None:
    await publish_event(service.broker, subject, body, msg_id or str(uuid4()))


async def test_a_handler_failing_every_time_is_delivered_max_deliver_times_then_kept_as_a_dead_letter(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    deliveries: list[UUID] = []
    durable = f"always-fails-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            deliveries.append(event.event_id)
            raise RuntimeError("the database is away; see https://db.example/x?token=s3cret")

    service = await start_service(register)
    event = failed()
    await publish(service, event.subject, event.to_json(), str(event.event_id))

    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")
    [announced] = await eventually(
        lambda: asyncio.sleep(0, service.announcements_of(durable)), what="MessageDeadLettered"
    )

    assert deliveries == [event.event_id] * MAX_DELIVER
    assert letter.subject == f"{DLQ_PREFIX}.{durable}"
    assert letter.original_subject == event.subject
    assert letter.attempts == MAX_DELIVER
    assert letter.payload == event.to_json()
    assert letter.headers[headers.ORIGINAL_MSG_ID] == str(event.event_id)
    assert letter.headers[headers.ORIGINAL_STREAM] == EVENTS_STREAM.name
    assert letter.headers["content-type"] == "application/json"
    assert letter.error.startswith("RuntimeError: the database is away")
    assert "s3cret" not in letter.error
    assert announced.asset_id == event.asset_id
    assert announced.user_id == "user-1"
    assert announced.correlation_id == event.asset_id
    assert announced.attempts == MAX_DELIVER
    assert announced.original_subject == event.subject
    assert announced.dead_letter_subject == letter.subject
    await asyncio.sleep(2)  # terminated, not redelivered once more
    assert len(deliveries) == MAX_DELIVER


async def test_bytes_that_are_not_json_are_kept_at_once_and_announced(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    calls: list[GenerationFailed] = []
    durable = f"reads-json-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            calls.append(event)

    service = await start_service(register)
    await publish(service, GenerationFailed.subject, b"{not json")

    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")
    [announced] = await eventually(lambda: asyncio.sleep(0, service.announcements_of(durable)), what="announcement")
    assert letter.attempts == 1
    assert letter.payload == b"{not json"
    assert announced.asset_id is None
    assert calls == []


async def test_events_from_a_newer_producer_are_handled_or_dead_lettered_never_dropped(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    """Item 7: an unknown field is ignored, an unknown failure reason reads as provider_error, and an
    unknown provider (which no safe default covers) is retried, then kept and announced."""
    failures: list[GenerationFailed] = []
    failed_durable = f"failures-{uuid4().hex[:6]}"
    started_durable = f"tasks-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, failed_durable)
        async def on_failed(event: GenerationFailed) -> None:
            failures.append(event)

        @durable_subscriber(broker, TaskStarted, started_durable)
        async def on_started(event: TaskStarted) -> None:
            raise AssertionError("an unknown provider cannot have been parsed")

    service = await start_service(register)
    newer = json.loads(failed().to_json())
    newer["reason"] = "quota_of_the_future"
    newer["retry_hint"] = {"after_seconds": 3}
    await publish(service, GenerationFailed.subject, json.dumps(newer).encode(), newer["event_id"])

    asset_id = uuid4()
    task = json.loads(
        TaskStarted(
            correlation_id=asset_id,
            asset_id=asset_id,
            user_id="user-2",
            provider=Provider.KIE_VEO3,
            media_type=MediaType.VIDEO,
            task_id="task-1",
            prompt="a fox",
        ).to_json()
    )
    task["provider"] = "kie-veo4"
    await publish(service, TaskStarted.subject, json.dumps(task).encode(), task["event_id"])

    [handled] = await eventually(lambda: asyncio.sleep(0, failures), what="the newer GenerationFailed")
    assert handled.reason is FailureReason.PROVIDER_ERROR
    assert str(handled.event_id) == newer["event_id"]
    [letter] = await eventually(lambda: service.letters_of(started_durable), what="the dead letter")
    [announced] = await eventually(
        lambda: asyncio.sleep(0, service.announcements_of(started_durable)), what="announcement"
    )
    assert letter.attempts == MAX_DELIVER
    assert letter.error.startswith("ValidationError:") and "provider: enum" in letter.error
    assert announced.asset_id == asset_id
    assert announced.user_id == "user-2"
    assert await service.letters_of(failed_durable) == []


async def test_a_replayed_dead_letter_reaches_the_consumer_again_with_its_event_id(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    handled: list[UUID] = []
    broken = True
    durable = f"recovers-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            if broken:
                raise RuntimeError("bug, fixed in the next release")
            handled.append(event.event_id)

    service = await start_service(register)
    event = failed()
    await publish(service, event.subject, event.to_json(), str(event.event_id))
    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")

    broken = False
    replayed = await replay(service.js, letter.sequence)

    assert replayed.sequence == letter.sequence
    assert await eventually(lambda: asyncio.sleep(0, handled), what="the replay") == [event.event_id]
    assert await service.letters_of(durable) == []


async def test_show_and_drop_read_and_remove_one_dead_letter(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    durable = f"unreadable-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            pass

    service = await start_service(register)
    await publish(service, GenerationFailed.subject, b"\xff\xfe")
    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")

    shown = await show(service.js, letter.sequence)
    assert shown.details()["durable"] == durable
    await drop(service.js, letter.sequence)
    assert await service.letters_of(durable) == []


async def test_a_dead_letter_of_the_announcement_itself_is_kept_without_another_announcement(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    durable = f"fails-on-announcements-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, MessageDeadLettered, durable)
        async def handle(event: MessageDeadLettered) -> None:
            raise RuntimeError("cannot fail the asset")

    service = await start_service(register)
    await publish(service, MessageDeadLettered.subject, b"[]")  # unreadable: kept at first delivery

    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")
    assert letter.original_subject == MessageDeadLettered.subject
    await asyncio.sleep(2)
    assert service.announcements_of(durable) == []
    assert len(await service.letters_of(durable)) == 1


async def test_a_handler_that_keeps_asking_for_later_is_kept_on_the_servers_last_delivery(
    start_service: Callable[[Register], Awaitable[Service]],
) -> None:
    deliveries: list[UUID] = []
    durable = f"waits-forever-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            deliveries.append(event.event_id)
            raise NackMessage(delay=0.05)

    service = await start_service(register)
    event = failed()
    await publish(service, event.subject, event.to_json(), str(event.event_id))

    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")
    assert letter.attempts == MAX_DELIVER + CONSUMER_MAX_DELIVER_MARGIN
    assert len(deliveries) == MAX_DELIVER + CONSUMER_MAX_DELIVER_MARGIN
    info = await service.js.consumer_info(EVENTS_STREAM.name, durable)
    assert info.config.max_deliver == MAX_DELIVER + CONSUMER_MAX_DELIVER_MARGIN
    assert info.config.ack_wait == 30.0


async def test_a_message_whose_dead_letter_cannot_be_stored_is_delivered_again_not_dropped(
    nats_url: str, client: Client
) -> None:
    settings = ServiceSettings(nats_url=nats_url, max_deliver=1)
    broker = create_broker(settings, name="no-dlq")
    durable = f"no-dlq-{uuid4().hex[:6]}"
    deliveries: list[int] = []

    @durable_subscriber(broker, GenerationFailed, durable)
    async def handle(event: GenerationFailed) -> None:
        deliveries.append(1)
        raise RuntimeError("always")

    js = client.jetstream()
    await ensure_stream(js, EVENTS_STREAM)  # and no dead-letter stream yet
    await broker.start()
    try:
        event = failed()
        await publish_event(broker, event.subject, event.to_json(), str(event.event_id))
        await eventually(lambda: asyncio.sleep(0, len(deliveries) >= 2), what="a second delivery")
        await ensure_stream(js, DEAD_LETTER_STREAM)
        letters = await eventually(
            lambda: list_dead_letters(js), what="the dead letter once the stream exists", within=120
        )
        assert letters[0].durable == durable
    finally:
        await broker.stop()


async def test_an_existing_stream_is_left_as_the_operator_configured_it(client: Client) -> None:
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=DEAD_LETTER_STREAM.name, subjects=[f"{DLQ_PREFIX}.>"], max_age=90 * 86400.0))
    await ensure_stream(js, DEAD_LETTER_STREAM)
    info = await js.stream_info(DEAD_LETTER_STREAM.name)
    assert info.config.max_age == 90 * 86400.0


def test_retention_must_outlast_the_events_stream() -> None:
    with pytest.raises(ValueError, match="RETENTION_DAYS"):
        ServiceSettings(retention_days=14)
    assert ServiceSettings(retention_days=15).retention_days == 15


async def test_the_operator_command_lists_dead_letters_for_people_and_as_json(
    start_service: Callable[[Register], Awaitable[Service]], nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    durable = f"listed-{uuid4().hex[:6]}"

    def register(broker: NatsBroker) -> None:
        @durable_subscriber(broker, GenerationFailed, durable)
        async def handle(event: GenerationFailed) -> None:
            pass

    service = await start_service(register)
    await publish(service, GenerationFailed.subject, b"not json")
    [letter] = await eventually(lambda: service.letters_of(durable), what="the dead letter")
    capsys.readouterr()

    assert await run(nats_url, "list", None, as_json=False) == 0
    assert durable in capsys.readouterr().out
    assert await run(nats_url, "show", letter.sequence, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["payload"] == "not json"
    assert await run(nats_url, "show", letter.sequence + 100, as_json=False) == 1

"""A starting service binds its durable consumers itself, and waits out a JetStream that cannot answer yet.

On a three-node cluster a replica asking for a consumer that another replica has just created gets no
answer until the consumer's Raft group has a leader, and a cluster without quorum answers nothing at all.
FastStream's own start asks once and exits; ours must wait (up to JETSTREAM_STARTUP_WAIT_SECONDS)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import nats
import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from aistudio_contracts import GenerationFailed, TaskStarted
from aistudio_contracts.subjects import EVENTS_STREAM
from aistudio_runtime import ServiceSettings, create_broker, durable_subscriber
from aistudio_runtime.messaging import Durable, durables, prepare_jetstream


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    try:
        yield connection
    finally:
        await connection.close()


def declared(nats_url: str, durable: str) -> list[Durable]:
    """The durables a service with one consumer of GenerationFailed declares, as its composition root would."""
    broker = create_broker(ServiceSettings(nats_url=nats_url, ack_wait_seconds=42.0), name=f"test-{uuid4().hex[:6]}")

    @durable_subscriber(broker, GenerationFailed, durable)
    async def handle(event: GenerationFailed) -> None:
        del event

    return durables(broker)


@pytest.mark.integration
async def test_a_starting_service_creates_its_durable_consumers_with_their_policy(
    nats_url: str, client: Client
) -> None:
    durable = f"start-{uuid4().hex[:6]}"
    js = client.jetstream()

    await prepare_jetstream(js, [EVENTS_STREAM], declared(nats_url, durable), wait_seconds=60, call_timeout=10)

    info = await js.consumer_info(EVENTS_STREAM.name, durable)
    assert info.config.filter_subject == GenerationFailed.subject
    assert info.config.ack_wait == 42.0
    assert info.config.durable_name == durable


@pytest.mark.integration
async def test_replicas_starting_together_share_one_consumer(nats_url: str, client: Client) -> None:
    durable = f"together-{uuid4().hex[:6]}"
    js = client.jetstream()

    await asyncio.gather(
        *(
            prepare_jetstream(js, [EVENTS_STREAM], declared(nats_url, durable), wait_seconds=60, call_timeout=10)
            for _ in range(4)
        )
    )

    names = [info.name for info in await js.consumers_info(EVENTS_STREAM.name)]
    assert names.count(durable) == 1


class SilentThenAnswering:
    """A JetStream that times out `silent_for` times (a cluster electing, or without quorum), then answers."""

    def __init__(self, silent_for: int) -> None:
        self.silent_for = silent_for
        self.calls = 0
        self.created: list[ConsumerConfig] = []

    def _maybe_silent(self) -> None:
        self.calls += 1
        if self.calls <= self.silent_for:
            raise NatsTimeoutError

    async def consumer_info(self, stream: str, consumer: str, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (the nats-py signature)
        self._maybe_silent()
        if not any(config.name == consumer for config in self.created):
            raise NotFoundError
        return object()

    async def add_consumer(self, stream: str, config: ConsumerConfig, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        self._maybe_silent()
        self.created.append(config)
        return object()


def one_durable() -> list[Durable]:
    return [Durable(EVENTS_STREAM.name, TaskStarted.subject, "poller-task-started", ConsumerConfig(ack_wait=30.0))]


async def test_a_start_waits_while_jetstream_cannot_answer_then_binds() -> None:
    js = SilentThenAnswering(silent_for=3)

    await prepare_jetstream(js, [], one_durable(), wait_seconds=60, call_timeout=1)  # type: ignore[arg-type]

    assert [config.name for config in js.created] == ["poller-task-started"]
    assert js.created[0].filter_subject == TaskStarted.subject


async def test_a_start_gives_up_once_its_wait_is_spent() -> None:
    js = SilentThenAnswering(silent_for=1_000_000)

    with pytest.raises(NatsTimeoutError):
        await prepare_jetstream(js, [], one_durable(), wait_seconds=1, call_timeout=1)  # type: ignore[arg-type]

    assert js.created == []

"""Thin adapters: a request becomes a scheduled job; a KIE callback may adopt a job's task."""

from faststream.nats import NatsBroker

from aistudio_contracts import GenerationRequested, ProviderCallbackReceived, deadline_of
from aistudio_runtime import durable_subscriber, get_logger

from .jobs import Jobs
from .settings import GeneratorSettings
from .submission import Submitter

log = get_logger(__name__)


def register(broker: NatsBroker, jobs: Jobs, submitter: Submitter, settings: GeneratorSettings) -> None:
    @durable_subscriber(broker, GenerationRequested, "generator-generation-requested", batch_size=64)
    async def on_generation_requested(event: GenerationRequested) -> None:
        if await jobs.enqueue(event, deadline_of(event, settings.generation_timeout_seconds)):
            log.info("job_queued", asset_id=str(event.asset_id), provider=event.provider)

    @durable_subscriber(broker, ProviderCallbackReceived, "generator-provider-callback", batch_size=64)
    async def on_callback(event: ProviderCallbackReceived) -> None:
        if event.task_id:
            await submitter.adopt(event.asset_id, event.task_id)

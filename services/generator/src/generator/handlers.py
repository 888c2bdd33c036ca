"""Thin adapters: a request becomes a scheduled job; a KIE callback may adopt a job's task; a
cancel ends the job so nothing more is sent for it."""

from faststream.nats import NatsBroker

from aistudio_contracts import GenerationCancelled, GenerationRequested, ProviderCallbackReceived, deadline_of
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

    @durable_subscriber(broker, GenerationCancelled, "generator-generation-cancelled", batch_size=64)
    async def on_cancelled(event: GenerationCancelled) -> None:
        move = await jobs.cancel(event)
        if move is None:
            return
        await submitter.cancelled(move)
        if move.job is not None:
            log.info("job_cancelled", asset_id=str(event.asset_id), in_flight=move.job.in_flight)
        else:
            log.info("asset_cancelled", asset_id=str(event.asset_id), still_wanted=len(move.variants.wanted))

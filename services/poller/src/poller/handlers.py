"""TaskStarted starts tracking; a provider callback makes the task due at once (the body is only a
hint); a cancel stops following the task."""

from faststream.nats import NatsBroker

from aistudio_contracts import GenerationCancelled, ProviderCallbackReceived, TaskStarted
from aistudio_runtime import durable_subscriber, get_logger

from .schedule import ProviderStats, first_check_delay
from .settings import PollerSettings
from .tasks import Tasks

log = get_logger(__name__)


def register(broker: NatsBroker, tasks: Tasks, settings: PollerSettings, stats: ProviderStats | None = None) -> None:
    stats = stats or ProviderStats()

    @durable_subscriber(broker, TaskStarted, "poller-task-started", batch_size=64)
    async def on_task_started(event: TaskStarted) -> None:
        delay = first_check_delay(
            event.provider,
            settings.poll_interval_seconds,
            typical=stats.typical(event.provider),
            callback_expected=event.callback_url is not None and stats.callbacks_arrive(),
            adaptive=settings.adaptive_schedule,
        )
        if await tasks.track(event, delay, settings.generation_timeout_seconds):
            log.info("tracking_task", asset_id=str(event.asset_id), task_id=event.task_id, adopted=event.adopted)

    @durable_subscriber(broker, ProviderCallbackReceived, "poller-provider-callback", batch_size=64)
    async def on_callback(event: ProviderCallbackReceived) -> None:
        stats.callback_received()
        if await tasks.callback_arrived(event.asset_id, event.task_id):
            log.info("callback_check_now", asset_id=str(event.asset_id), task_id=event.task_id)
        else:
            log.info("callback_kept_or_late", asset_id=str(event.asset_id), task_id=event.task_id)

    @durable_subscriber(broker, GenerationCancelled, "poller-generation-cancelled", batch_size=64)
    async def on_cancelled(event: GenerationCancelled) -> None:
        if await tasks.cancel(event.asset_id):
            log.info("task_cancelled", asset_id=str(event.asset_id), task_id=event.task_id)

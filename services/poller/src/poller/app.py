"""Composition root of the poller."""

from faststream import FastStream

from aistudio_providers import KieClient, download_client
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import create_media_store
from aistudio_runtime.metrics import ScrapeHook

from . import handlers
from .http import AiohttpTransport
from .metrics import PollerGauges
from .schedule import ProviderStats
from .settings import PollerSettings
from .tasks import Tasks
from .tracker import Tracker


def create_app(settings: PollerSettings | None = None) -> FastStream:
    settings = settings or PollerSettings()
    configure_logging("poller", settings.log_level, settings.log_format)
    broker = create_broker(settings, name="poller")
    runtime = ServiceRuntime(settings, "poller", broker)
    runtime.prune("tasks", by="finished_at", where="state = 'done'")
    # Callbacks whose task never came (a job that went to Gemini instead) are kept no longer than tasks.
    runtime.prune("early_callbacks", by="received_at")
    runtime.prune("cancelled_assets", by="cancelled_at")  # likewise a cancel whose task never came
    tasks = Tasks(runtime)
    stats = ProviderStats()  # durations and callback arrivals seen by this replica
    tracker = Tracker(
        settings,
        runtime,
        tasks,
        # Status calls over aiohttp's pool (see http.py): a fraction of httpcore's CPU per check.
        kie=runtime.managed(
            lambda: KieClient.from_settings(settings, transport=AiohttpTransport(settings.max_concurrent_checks))
        ),
        http=runtime.managed(lambda: download_client(settings)),
        media=create_media_store(settings, settings.media_dir),
        stats=stats,
    )
    handlers.register(broker, tasks, settings, stats)
    gauges = ScrapeHook(PollerGauges(runtime).refresh)
    return runtime.application(start=[tracker.start, gauges.start], stop=[gauges.stop, tracker.stop])

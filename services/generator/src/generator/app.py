"""Composition root of the generator."""

from faststream import FastStream

from aistudio_contracts import MediaType
from aistudio_providers import GeminiImageClient, KieClient, download_client
from aistudio_providers.costs import Prices
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import create_media_store
from aistudio_runtime.metrics import ScrapeHook

from . import handlers
from .costs import CostLedger
from .credit_check import CreditCheck
from .domain.fairness import FairShares
from .jobs import Jobs
from .metrics import GeneratorGauges
from .queue_report import QueueReporter
from .ratelimit import SubmitRateLimiter
from .scheduler import job_scheduler
from .settings import GeneratorSettings
from .submission import Submitter


def create_app(settings: GeneratorSettings | None = None) -> FastStream:
    settings = settings or GeneratorSettings()
    configure_logging("generator", settings.log_level, settings.log_format)
    broker = create_broker(settings, name="generator")
    runtime = ServiceRuntime(settings, "generator", broker)
    runtime.prune("jobs", by="finished_at", where="state IN ('completed', 'failed')")
    jobs = Jobs(
        runtime,
        FairShares(pro_weight=settings.fair_pro_weight),
        typical_seconds={
            MediaType.VIDEO: settings.typical_video_seconds,
            MediaType.IMAGE: settings.typical_image_seconds,
        },
    )
    limiter = SubmitRateLimiter(
        runtime,
        limit=settings.kie_submit_limit,
        window_seconds=settings.kie_submit_window_seconds,
        margin_seconds=settings.kie_submit_margin_seconds,
    )
    submitter = Submitter(
        settings,
        jobs,
        limiter,
        kie=runtime.managed(lambda: KieClient.from_settings(settings)),
        gemini=runtime.managed(lambda: GeminiImageClient.from_settings(settings)),
        media=create_media_store(settings, settings.media_dir),
        http=runtime.managed(lambda: download_client(settings, public_only=True)),  # users' reference images
        costs=CostLedger(runtime, Prices.from_settings(settings)),
    )
    scheduler = job_scheduler(settings, runtime, jobs, limiter, submitter)
    reporter = QueueReporter(jobs, limiter)
    handlers.register(broker, jobs, submitter, settings)
    gauges = ScrapeHook(GeneratorGauges(runtime).refresh)
    start, stop = [scheduler.start, reporter.start, gauges.start], [gauges.stop, reporter.stop, scheduler.stop]
    if settings.kie_credit_check:
        kie = runtime.managed(lambda: KieClient.from_settings(settings))
        check = CreditCheck(
            runtime,
            kie,
            interval_seconds=settings.kie_credit_check_seconds,
            tolerance=settings.kie_credit_drift_tolerance,
        )
        start, stop = [*start, check.start], [check.stop, *stop]
    return runtime.application(start=start, stop=stop)

"""Composition root of the captioner."""

from faststream import FastStream

from aistudio_providers import CaptionWriter, download_client
from aistudio_providers.costs import Prices
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import create_media_store

from . import handlers
from .captioning import Captioner
from .costs import CaptionCosts
from .records import CaptionRecords, SystemPrompts
from .settings import CaptionerSettings
from .stills import Stills


def create_app(settings: CaptionerSettings | None = None) -> FastStream:
    settings = settings or CaptionerSettings()
    if settings.openai_api_key is None:
        raise ValueError("OPENAI_API_KEY is not set: the captioner cannot write captions")
    configure_logging("captioner", settings.log_level, settings.log_format)
    broker = create_broker(settings, name="captioner")
    runtime = ServiceRuntime(settings, "captioner", broker)
    writer = runtime.managed(lambda: CaptionWriter.from_settings(settings))
    http = runtime.managed(lambda: download_client(settings))
    prompts = SystemPrompts(runtime)
    captioner = Captioner(
        CaptionRecords(runtime),
        prompts,
        Stills(
            create_media_store(settings, settings.media_dir),
            http,
            max_bytes=settings.max_media_bytes,
            frame_at_seconds=settings.video_frame_at_seconds,
        ),
        writer,
        max_attempts=settings.caption_max_attempts,
        claim_seconds=settings.caption_claim_seconds,
        on_demand_timeout_seconds=settings.on_demand_timeout_seconds,
        costs=CaptionCosts(runtime, Prices.from_settings(settings), model=settings.openai_model),
    )
    handlers.register(broker, captioner, prompts, settings)
    return runtime.application()

"""Composition root of the captioner."""

import httpx
from faststream import FastStream

from aistudio_providers import USER_AGENT, CaptionWriter
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import LocalMediaStore

from . import handlers
from .captioning import Captioner
from .records import CaptionRecords, SystemPrompts
from .settings import CaptionerSettings
from .stills import Stills


class Clients:
    """The OpenAI and HTTP clients live as long as the process, created once the event loop runs."""

    def __init__(self, settings: CaptionerSettings) -> None:
        self._settings = settings
        self._writer: CaptionWriter | None = None
        self._http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._writer = CaptionWriter.from_settings(self._settings)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self._settings.download_timeout_seconds, connect=5.0),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()
        if self._http is not None:
            await self._http.aclose()

    def writer(self) -> CaptionWriter:
        assert self._writer is not None, "clients not opened"
        return self._writer

    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "clients not opened"
        return self._http


def create_app(settings: CaptionerSettings | None = None) -> FastStream:
    settings = settings or CaptionerSettings()
    if settings.openai_api_key is None:
        raise ValueError("OPENAI_API_KEY is not set: the captioner cannot write captions")
    configure_logging("captioner", settings.log_level, settings.log_format)
    broker = create_broker(settings.nats_url, name="captioner", graceful_timeout=settings.shutdown_grace_seconds)
    runtime = ServiceRuntime(settings, "captioner", broker)
    clients = Clients(settings)
    prompts = SystemPrompts(runtime)
    captioner = Captioner(
        CaptionRecords(runtime),
        prompts,
        Stills(
            LocalMediaStore(settings.media_dir),
            clients.http,
            max_bytes=settings.max_media_bytes,
            frame_at_seconds=settings.video_frame_at_seconds,
        ),
        clients.writer,
        max_attempts=settings.caption_max_attempts,
        claim_seconds=settings.caption_claim_seconds,
        on_demand_timeout_seconds=settings.on_demand_timeout_seconds,
    )
    handlers.register(broker, captioner, prompts, settings)
    hooks = runtime.hooks()
    hooks["on_startup"].insert(0, clients.open)
    hooks["after_shutdown"].append(clients.close)
    return FastStream(broker, **hooks)

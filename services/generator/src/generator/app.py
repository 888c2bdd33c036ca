"""Composition root of the generator."""

import httpx
from faststream import FastStream

from aistudio_providers import USER_AGENT, GeminiImageClient, KieClient
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import LocalMediaStore

from . import handlers
from .jobs import Jobs
from .ratelimit import SubmitRateLimiter
from .settings import GeneratorSettings
from .submission import Submitter


class ProviderClients:
    """HTTP clients live as long as the process, created once the event loop runs."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._settings = settings
        self._kie: KieClient | None = None
        self._gemini: GeminiImageClient | None = None
        self._http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._kie = KieClient.from_settings(self._settings)
        self._gemini = GeminiImageClient.from_settings(self._settings)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self._settings.download_timeout_seconds, connect=5.0),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        for client in (self._kie, self._gemini, self._http):
            if client is not None:
                await client.aclose()

    def kie(self) -> KieClient:
        assert self._kie is not None, "clients not opened"
        return self._kie

    def gemini(self) -> GeminiImageClient:
        assert self._gemini is not None, "clients not opened"
        return self._gemini

    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "clients not opened"
        return self._http


def create_app(settings: GeneratorSettings | None = None) -> FastStream:
    settings = settings or GeneratorSettings()
    configure_logging("generator", settings.log_level, settings.log_format)
    broker = create_broker(settings.nats_url, name="generator", graceful_timeout=settings.shutdown_grace_seconds)
    runtime = ServiceRuntime(settings, "generator", broker)
    clients = ProviderClients(settings)
    submitter = Submitter(
        settings,
        Jobs(runtime),
        SubmitRateLimiter(runtime, limit=settings.kie_submit_limit, window_seconds=settings.kie_submit_window_seconds),
        kie=clients.kie,
        gemini=clients.gemini,
        media=LocalMediaStore(settings.media_dir),
        http=clients.http,
    )
    handlers.register(broker, submitter, settings)
    hooks = runtime.hooks()
    hooks["on_startup"].insert(0, clients.open)
    hooks["after_shutdown"].append(clients.close)
    return FastStream(broker, **hooks)

"""Composition root of the poller."""

import httpx
from faststream import FastStream

from aistudio_providers import USER_AGENT, KieClient
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import LocalMediaStore

from . import handlers
from .settings import PollerSettings
from .tasks import Tasks
from .tracker import Tracker


class _Clients:
    def __init__(self, settings: PollerSettings) -> None:
        self._settings = settings
        self._kie: KieClient | None = None
        self._http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._kie = KieClient.from_settings(self._settings)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self._settings.download_timeout_seconds, connect=5.0),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        for client in (self._kie, self._http):
            if client is not None:
                await client.aclose()

    def kie(self) -> KieClient:
        assert self._kie is not None
        return self._kie

    def http(self) -> httpx.AsyncClient:
        assert self._http is not None
        return self._http


def create_app(settings: PollerSettings | None = None) -> FastStream:
    settings = settings or PollerSettings()
    configure_logging("poller", settings.log_level, settings.log_format)
    broker = create_broker(settings.nats_url, name="poller", graceful_timeout=settings.shutdown_grace_seconds)
    runtime = ServiceRuntime(settings, "poller", broker)
    tasks = Tasks(runtime)
    clients = _Clients(settings)
    tracker = Tracker(settings, runtime, tasks, clients.kie, clients.http, LocalMediaStore(settings.media_dir))
    handlers.register(broker, tasks, settings)
    hooks = runtime.hooks()
    hooks["on_startup"].insert(0, clients.open)
    hooks["after_startup"].append(tracker.start)
    hooks["on_shutdown"].insert(0, tracker.stop)
    hooks["after_shutdown"].append(clients.close)
    return FastStream(broker, **hooks)

"""Running the provider simulator in-process, and what tests use to look inside it."""

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from aistudio_contracts import Provider
from aistudio_providers import KieClient, RetryPolicy, TaskStatus
from provider_simulator import SimulatorConfig

# Clients give up after this; the simulator's "timeout" faults hang for twice as long. Two seconds, not
# less: an ordinary answer (a media download, a caption) must arrive within it on a loaded 2-core machine.
CLIENT_TIMEOUT_SECONDS = 2.0
CALLBACK_HMAC_KEY = "simulator-webhook-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving `app` from a thread with its own event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class SimulatorAdmin:
    """The simulator's admin API, for assertions about what reached the "provider"."""

    def __init__(self, url: str) -> None:
        self.url = url
        # One connection for the whole session: a new client per call costs more than the call.
        self._http = httpx.Client(base_url=url, timeout=10)

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Any = None) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def tasks(self) -> list[dict[str, Any]]:
        return list(self._get("/_admin/tasks"))

    def stats(self) -> dict[str, Any]:
        return dict(self._get("/_admin/stats"))

    def requests(self, api: str | None = None) -> list[dict[str, Any]]:
        return list(self._get("/_admin/requests", **({"api": api} if api else {})))

    def configure(self, **patch: Any) -> dict[str, Any]:
        return dict(self._post("/_admin/config", patch))

    def reset(self) -> None:
        self._post("/_admin/reset")

    def forget(self) -> None:
        self._post("/_admin/forget")

    def close(self) -> None:
        self._http.close()


@dataclass
class CallbackReceiver:
    """Stands in for our gateway: records what KIE (the simulator) POSTs to callBackUrl."""

    url: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/providers/kie/callback/{asset_id}/{token}")
        async def receive(asset_id: str, token: str, request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append((request.url.path, dict(request.headers), body))
            return Response('{"ok": true}', media_type="application/json")

        return app

    def wait_for(self, count: int, timeout: float = 60.0) -> list[tuple[str, dict[str, str], bytes]]:
        """The callbacks once `count` have come (generous: a video is encoded before its callback), or
        what came within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


def simulator_config(port: int) -> SimulatorConfig:
    # No .env: a developer's SIMULATOR_* settings must not change what the tests measure.
    return SimulatorConfig(
        _env_file=None,
        host="127.0.0.1",
        port=port,
        time_scale=1.0,
        rate_limit_submissions=20,
        rate_limit_window_seconds=10,
        initial_credits=10_000,
        veo3_seconds=0.2,
        gpt4o_image_seconds=0.15,
        flux_kontext_seconds=0.15,
        gemini_seconds=0.0,
        openai_seconds=0.0,
        hang_seconds=CLIENT_TIMEOUT_SECONDS * 2,
        file_ttl_seconds=60,
        callback_retry_seconds=0.05,
        callback_hmac_key=CALLBACK_HMAC_KEY,
        openai_retry_after_seconds=0.01,
    )


def kie_client(base_url: str, *, api_key: str = "test-kie-key") -> KieClient:
    return KieClient(
        api_key,
        base_url=base_url,
        timeout=httpx.Timeout(CLIENT_TIMEOUT_SECONDS, connect=CLIENT_TIMEOUT_SECONDS),
        # Real backoff is seconds; the number of attempts is what the tests are about.
        retry=RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.05),
    )


async def wait_for_tasks(simulator: "SimulatorAdmin", count: int) -> list[dict[str, Any]]:
    """The simulator's tasks once it holds `count` of them (or what it holds after a generous wait)."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_SECONDS * 4 + 10
    while True:
        tasks = await asyncio.to_thread(simulator.tasks)
        if len(tasks) >= count or time.monotonic() > deadline:
            return tasks
        await asyncio.sleep(0.05)


async def wait_until_finished(kie: KieClient, provider: Provider, task_id: str) -> TaskStatus:
    """Poll like the poller does, quickly; gives up (returning the pending status) after 60 s, which a
    loaded machine encoding a video for the simulator needs more than the tasks' fraction of a second."""
    deadline = time.monotonic() + 60.0
    while True:
        status = await kie.status(provider, task_id)
        if status.finished or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.03)

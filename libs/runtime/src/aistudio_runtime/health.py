"""`/healthz`, `/readyz` and `/metrics` for a worker, on HEALTH_PORT, for Kubernetes probes and compose healthchecks.

Workers have no HTTP server of their own, so this is a tiny ASGI app of two routes served by
uvicorn inside the worker's event loop. Liveness says only that the loop answers (a stuck broker
must not get the pod restarted while it reconnects); readiness says the worker can do its work:
broker connected, database reachable, every consumer bound. During shutdown readiness turns 503
first, so that an orchestrator stops counting the replica before its handlers finish.
"""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from . import metrics
from .logging import get_logger

log = get_logger(__name__)

Checks = Callable[[], Awaitable[dict[str, bool]]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# A readiness probe must answer even when a dependency hangs: each check gets this long.
CHECK_TIMEOUT_SECONDS = 2.0


class HealthApp:
    """The ASGI app: GET /healthz is 200 while the process runs; GET /readyz is 200 when every check
    passes, 503 with the failing ones named otherwise."""

    def __init__(self, checks: Checks) -> None:
        self._checks = checks
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path == "/healthz":
            await _answer(send, 200, {"status": "alive"})
        elif path == "/readyz":
            checks = await self._run_checks()
            ready = all(checks.values())
            await _answer(send, 200 if ready else 503, {"status": "ready" if ready else "not_ready", "checks": checks})
        elif path == "/metrics":
            await _send(send, 200, await metrics.render(), metrics.CONTENT_TYPE.encode())
        else:
            await _answer(send, 404, {"detail": "not found"})

    async def _run_checks(self) -> dict[str, bool]:
        if self.draining:
            return {"draining": False}
        try:
            return await asyncio.wait_for(self._checks(), CHECK_TIMEOUT_SECONDS * 2)
        except Exception:
            return {"checks": False}


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    await _send(send, status, json.dumps(body).encode(), b"application/json")


async def _send(send: Send, status: int, payload: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its signal handling: SIGTERM belongs to the worker (FastStream),
    which stops the health server itself once its handlers are done."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HealthServer:
    def __init__(self, host: str, port: int, checks: Checks) -> None:
        self.app = HealthApp(checks)
        config = uvicorn.Config(self.app, host=host, port=port, lifespan="off", access_log=False, log_level="warning")
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="health-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # a port already taken: fail the start, loudly
                raise RuntimeError(f"the health server stopped while starting on port {self.port}")
            await asyncio.sleep(0.02)
        log.info("health_server_started", port=self.port)

    def drain(self) -> None:
        self.app.draining = True

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._task = None

"""Run services in-process for integration tests: FastStream apps and the gateway on a real port."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from faststream import FastStream

from aistudio_devstack import free_port

TEST_JWT_SECRET = "test-secret-for-the-suite-only-0123456789"


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@contextlib.asynccontextmanager
async def serving(asgi_app: Any, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped before starting")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def common_env(nats_url: str, database_url: str) -> dict[str, Any]:
    return {
        "nats_url": nats_url,
        "database_url": database_url,
        "log_level": "WARNING",
        "log_format": "console",
        # In-process services use the suite's short keys and the built-in defaults, as under `make run`;
        # tests/e2e runs the processes in production mode with strong keys.
        "environment": "development",
    }

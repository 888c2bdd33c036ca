"""3. End-to-end overhead with an instant provider: submit -> ready as the user sees it, on the
gateway's server-sent events (GET /api/ai/media/events), one job at a time.

- Gemini answering at once (the synchronous path: gateway -> generator -> Gemini -> our storage
  -> GenerationCompleted -> gateway -> event stream).
- KIE 4o Image finishing at once ([sim:duration=0], callbacks on: the asynchronous path adds
  TaskStarted, the callback, the poller's check and the download).
"""

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

from ..common import log, summary
from ..system import System

TARGET_P50_MS = 50.0


class EventStream:
    """Reads the user's event stream and notes when each asset was first seen ready."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http, self._url = http, url
        self.ready: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "EventStream":
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._opened.wait(), timeout=10)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    async def _read(self) -> None:
        async with self._http.stream("GET", self._url, timeout=httpx.Timeout(10, read=None)) as response:
            response.raise_for_status()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "ready":
                        self._opened.set()
                elif line.startswith("data:") and event == "asset":
                    seen = time.perf_counter()
                    asset = json.loads(line[5:])
                    if asset.get("status") in ("ready", "error") and asset["id"] not in self.ready:
                        self.ready[asset["id"]] = seen
                        self._waiters.setdefault(asset["id"], asyncio.Event()).set()

    async def wait(self, asset_id: str, within: float) -> float:
        await asyncio.wait_for(self._waiters.setdefault(asset_id, asyncio.Event()).wait(), within)
        return self.ready[asset_id]


async def _series(system: System, http: httpx.AsyncClient, user: str, body: dict[str, Any], count: int) -> list[float]:
    headers = system.auth(user)
    url = f"{system.gateway_url}/api/ai/media/events?access_token={system.token(user)}"
    took: list[float] = []
    async with EventStream(http, url) as stream:
        for i in range(count):
            began = time.perf_counter()
            response = await http.post(
                f"{system.gateway_url}/api/ai/generate-media",
                json={**body, "prompt": f"{body['prompt']} #{i}"},
                headers=headers,
            )
            response.raise_for_status()
            ready = await stream.wait(response.json()["id"], within=30)
            took.append((ready - began) * 1000)
            await asyncio.sleep(0.05)
    return took


async def run(system: System, count: int = 40, kie_count: int = 10) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        await system.make_pro(http, ["bench-instant-gemini", "bench-instant-kie"])
        await system.sim(http, "config", {"gemini_seconds": 0})
        gemini = await _series(
            system,
            http,
            "bench-instant-gemini",
            {"prompt": "An instant image", "provider": "gemini-flash", "type": "image"},
            count,
        )
        g = summary(gemini)
        log(f"  gemini (synchronous): submit -> ready p50 {g['p50']:.0f} ms, p99 {g['p99']:.0f} ms ({count} jobs)")
        kie = await _series(
            system,
            http,
            "bench-instant-kie",
            {"prompt": "An instant image [sim:duration=0]", "provider": "kie-4o-image", "type": "image"},
            kie_count,
        )
        k = summary(kie)
        log(f"  kie 4o, instant, callbacks: submit -> ready p50 {k['p50']:.0f} ms, p99 {k['p99']:.0f} ms")
    return {
        "gemini": {"summary": g, "samples": gemini},
        "kie": {"summary": k, "samples": kie},
        "target_met": g["p50"] is not None and g["p50"] < TARGET_P50_MS,
    }

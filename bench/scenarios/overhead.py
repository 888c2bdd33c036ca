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

import asyncpg
import httpx

from ..common import log, parse_time, summary
from ..system import System

TARGET_P50_MS = 50.0


class EventStream:
    """Reads the user's event stream and notes when each asset was first seen ready."""

    def __init__(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._http, self._url, self._headers = http, url, headers
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
        async with self._http.stream(
            "GET", self._url, headers=self._headers, timeout=httpx.Timeout(10, read=None)
        ) as response:
            response.raise_for_status()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "ready":
                        self._opened.set()
                elif line.startswith("data:") and event == "asset":
                    seen = time.time()
                    asset = json.loads(line[5:])
                    if asset.get("status") in ("ready", "error") and asset["id"] not in self.ready:
                        self.ready[asset["id"]] = seen
                        self._waiters.setdefault(asset["id"], asyncio.Event()).set()

    async def wait(self, asset_id: str, within: float) -> float:
        await asyncio.wait_for(self._waiters.setdefault(asset_id, asyncio.Event()).wait(), within)
        return self.ready[asset_id]


async def _series(
    system: System, http: httpx.AsyncClient, user: str, body: dict[str, Any], count: int
) -> tuple[list[float], dict[str, tuple[str, float, float]]]:
    """Submit -> ready (ms) per job, and per asset id: (prompt, sent at, seen ready at)."""
    headers = system.auth(user)
    # The bearer token in a header: the gateway takes none in a URL (EventSource clients use a ticket).
    url = f"{system.gateway_url}/api/ai/media/events"
    took: list[float] = []
    jobs: dict[str, tuple[str, float, float]] = {}
    async with EventStream(http, url, headers) as stream:
        for i in range(count):
            prompt = f"{body['prompt']} #{i}"
            began = time.time()
            response = await http.post(
                f"{system.gateway_url}/api/ai/generate-media", json={**body, "prompt": prompt}, headers=headers
            )
            response.raise_for_status()
            asset_id = response.json()["id"]
            ready = await stream.wait(asset_id, within=30)
            took.append((ready - began) * 1000)
            jobs[asset_id] = (prompt, began, ready)
            await asyncio.sleep(0.05)
    return took, jobs


async def _stages(
    system: System, http: httpx.AsyncClient, jobs: dict[str, tuple[str, float, float]]
) -> dict[str, float | None]:
    """Where the time of the synchronous path goes (medians, ms), from the asset's row, the
    simulator's log of Gemini requests and the moment the event stream showed the asset ready."""
    conn = await asyncpg.connect(system.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, EXTRACT(EPOCH FROM created_at) AS created, EXTRACT(EPOCH FROM completed_at) AS done"
            " FROM gateway.media_assets WHERE id = ANY($1::uuid[])",
            list(jobs),
        )
    finally:
        await conn.close()
    requests = await system.sim(http, f"requests?api=gemini&limit={len(jobs) + 50}")
    arrived: dict[str, float] = {}
    for request in requests:
        text = json.dumps(request.get("body"))
        for prompt, *_ in jobs.values():
            if f'{prompt}"' in text or f"{prompt}\\n" in text:  # the prompt ends the text or a line
                arrived.setdefault(prompt, parse_time(request["at"]) or 0.0)
    stages: dict[str, list[float]] = {"accept": [], "to_provider": [], "provider_to_ready": [], "to_stream": []}
    for row in rows:
        prompt, sent, seen = jobs[row["id"]]
        if row["done"] is None or prompt not in arrived:
            continue
        created, done = float(row["created"]), float(row["done"])
        stages["accept"].append((created - sent) * 1000)
        stages["to_provider"].append((arrived[prompt] - created) * 1000)
        stages["provider_to_ready"].append((done - arrived[prompt]) * 1000)
        stages["to_stream"].append((seen - done) * 1000)
    return {name: summary(values)["p50"] for name, values in stages.items()}


async def run(system: System, count: int = 40, kie_count: int = 10) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        await system.make_pro(http, ["bench-instant-gemini", "bench-instant-kie"])
        await system.sim(http, "config", {"gemini_seconds": 0})
        gemini, gemini_jobs = await _series(
            system,
            http,
            "bench-instant-gemini",
            {"prompt": "An instant image", "provider": "gemini-flash", "type": "image"},
            count,
        )
        g = summary(gemini)
        stages = await _stages(system, http, gemini_jobs)
        log(f"  gemini (synchronous): submit -> ready p50 {g['p50']:.0f} ms, p99 {g['p99']:.0f} ms ({count} jobs)")
        log(f"    where it goes (medians, ms): {stages}")
        kie, _ = await _series(
            system,
            http,
            "bench-instant-kie",
            {"prompt": "An instant image [sim:duration=0]", "provider": "kie-4o-image", "type": "image"},
            kie_count,
        )
        k = summary(kie)
        log(f"  kie 4o, instant, callbacks: submit -> ready p50 {k['p50']:.0f} ms, p99 {k['p99']:.0f} ms")
    return {
        "gemini": {"summary": g, "samples": gemini, "stages_ms": stages},
        "kie": {"summary": k, "samples": kie},
        "target_met": g["p50"] is not None and g["p50"] < TARGET_P50_MS,
    }

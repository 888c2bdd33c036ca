"""7. The live feed at scale (issue 17): thousands of open event streams on one gateway process,
spread over users (MAX_STREAMS_PER_USER each). A change is read once per user, not per stream
(gateway/feed.py), so what a change costs follows the changes; this measures change -> client
latency over every stream of the changed users, and the gateway's resident memory."""

import asyncio
import json
import time
from typing import Any

import httpx
import psutil

from ..common import log, summary
from ..system import System

PER_USER = 5


async def run(system: System, streams: int = 5000, changed_users: int = 40) -> dict[str, Any]:
    users = [f"bench-stream-{n}" for n in range(max(streams // PER_USER, 1))]
    ready = 0
    refused: list[int] = []
    opened: dict[str, int] = {}
    changed_by: dict[str, str] = {}
    received: dict[str, list[float]] = {}
    ready_all = asyncio.Event()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(30.0, read=None)
    rss_before = psutil.Process(system.pid("gateway")).memory_info().rss

    async def follow(client: httpx.AsyncClient, user: str, gate: asyncio.Semaphore) -> None:
        nonlocal ready
        async with gate:
            response_cm = client.stream("GET", "/api/ai/media/events", headers=system.auth(user))
            try:
                response = await response_cm.__aenter__()
            except httpx.HTTPError:
                refused.append(0)  # not even an answer: the gateway shed the connection
                if ready + len(refused) == len(users) * PER_USER:
                    ready_all.set()
                return
        try:
            if response.status_code != 200:  # e.g. 503 with every database connection busy
                refused.append(response.status_code)
                if ready + len(refused) == len(users) * PER_USER:
                    ready_all.set()
                return
            data: str | None = None
            kind: str | None = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data = line.partition(":")[2].strip()
                elif line == "" and kind:
                    if kind == "ready":
                        ready += 1
                        opened[user] = opened.get(user, 0) + 1
                        if ready + len(refused) == len(users) * PER_USER:
                            ready_all.set()
                    elif kind == "asset" and data:
                        received.setdefault(json.loads(data)["id"], []).append(time.time())
                    kind, data = None, None
                if stop.is_set():
                    break
        except httpx.HTTPError:
            pass  # the stream ended under us; the deliveries count what it received
        finally:
            await response_cm.__aexit__(None, None, None)

    async with httpx.AsyncClient(base_url=system.gateway_url, limits=limits, timeout=timeout) as client:
        gate = asyncio.Semaphore(100)
        tasks = [asyncio.create_task(follow(client, user, gate)) for user in users for _ in range(PER_USER)]
        opened_at = time.monotonic()
        await asyncio.wait_for(ready_all.wait(), timeout=300)
        log(
            f"  {ready} streams open over {len(users)} users in {time.monotonic() - opened_at:.1f} s"
            f" ({len(refused)} refused: {sorted(set(refused))})"
        )
        rss_open = psutil.Process(system.pid("gateway")).memory_info().rss

        sent: dict[str, float] = {}
        async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as api:
            for user in users[:changed_users]:
                began = time.time()
                response = await api.post(
                    "/api/ai/generate-media",
                    json={"prompt": f"bench stream change {user}", "provider": "gemini-flash", "type": "image"},
                    headers=system.auth(user),
                )
                response.raise_for_status()
                sent[response.json()["id"]] = began
                changed_by[response.json()["id"]] = user
                await asyncio.sleep(0.05)
        for _ in range(300):  # a minute at most for the last push
            if all(len(received.get(a, [])) >= opened.get(changed_by[a], 0) for a in sent):
                break
            await asyncio.sleep(0.2)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Each change's first push to each of its user's streams.
    latencies = [
        at - began
        for asset_id, began in sent.items()
        for at in sorted(received.get(asset_id, []))[: opened.get(changed_by[asset_id], 0)]
    ]
    expected = sum(opened.get(changed_by[a], 0) for a in sent)
    delivered = sum(min(len(received.get(a, [])), opened.get(changed_by[a], 0)) for a in sent)
    latency = summary(latencies)
    log(
        f"  change -> client p50 {latency['p50'] or 0:.3f} s, p99 {latency['p99'] or 0:.3f} s over {delivered}"
        f" deliveries; gateway RSS {rss_open / 1e6:.0f} MB with the streams open"
    )
    return {
        "streams": len(users) * PER_USER,
        "streams_open": ready,
        "streams_refused": len(refused),
        "users": len(users),
        "changes": len(sent),
        "deliveries": delivered,
        "expected_deliveries": expected,
        "latency": latency,
        "rss_before_mb": rss_before / 1e6,
        "rss_open_mb": rss_open / 1e6,
        "target_met": (latency["p99"] or 99) < 1.0 and rss_open < 400e6 and delivered == expected and not refused,
    }

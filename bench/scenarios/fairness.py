"""6. Fair shares of KIE's limit (issue 17): one user's 200-job backlog, then one job each from
five other users. Each of the five should reach KIE within one limiter window of its arrival,
while the backlog keeps the account at >= 95 % of the limit with no 429.

At KIE's own pace (20 per 10 s, the production margin), so the backlog takes about 100 s. A
slot is held from its booking until its answer plus the window and the margin, so the answer's
time costs a share of the limit: a time-scaled run (20 per 2 s) multiplied that share by five
and measured the scaling, not the queue. The light users arrive once the backlog runs in its
steady state (the first window's slots are being used again): in the very first window every
slot was taken before they came, and no queue can free one sooner than a window later."""

import asyncio
import time
from typing import Any

import httpx

from generator.settings import GeneratorSettings

from ..common import Job, attach_simulator_tasks, log, parse_time, submit, summary
from ..system import System

LIMIT, WINDOW = 20, 10.0
MARGIN = GeneratorSettings.model_fields["kie_submit_margin_seconds"].default


async def run(system: System, backlog: int = 200, light_users: int = 5) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        return await _scenario(system, http, backlog, light_users)


async def _scenario(system: System, http: httpx.AsyncClient, backlog: int, light_users: int) -> dict[str, Any]:
    await system.make_pro(http, ["bench-heavy"])
    before = await system.sim(http, "stats")
    heavy = [
        Job("heavy", "kie-4o-image", f"bench fair heavy {i} [sim:duration=0.5]", "bench-heavy") for i in range(backlog)
    ]
    light = [
        Job("light", "kie-4o-image", f"bench fair light {i} [sim:duration=0.5]", f"bench-light-{i}")
        for i in range(light_users)
    ]
    await asyncio.gather(*(submit(http, system.gateway_url, system.auth(job.user), job) for job in heavy))
    # The light users arrive while the backlog holds the account, after its first window.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await attach_simulator_tasks(http, system.simulator_url, heavy)
        if sum(1 for job in heavy if job.sim) > LIMIT + 2:
            break
        await asyncio.sleep(0.2)
    await asyncio.gather(*(submit(http, system.gateway_url, system.auth(job.user), job) for job in light))
    deadline = time.monotonic() + backlog / LIMIT * WINDOW * 2 + 60
    while time.monotonic() < deadline:
        await attach_simulator_tasks(http, system.simulator_url, heavy + light)
        if all(job.sim for job in heavy + light):
            break
        await asyncio.sleep(0.5)
    after = await system.sim(http, "stats")

    def created_at(job: Job) -> float | None:
        return parse_time(job.sim.get("createdAt"))

    waits = [(at - job.accepted_at) / WINDOW for job in light if (at := created_at(job)) is not None]
    created = sorted(at for job in heavy + light if (at := created_at(job)) is not None)
    turnarounds = [later - earlier for earlier, later in zip(created, created[LIMIT:], strict=False)]
    used = WINDOW / (sum(turnarounds) / len(turnarounds)) if turnarounds else 0.0
    rate_limited = int(after.get("rateLimited", 0)) - int(before.get("rateLimited", 0))
    fifo_wait = (backlog - LIMIT) / LIMIT  # windows a light job would wait first come, first served
    log(
        f"  light jobs waited {max(waits, default=0):.2f} windows at most (first come, first served:"
        f" ~{fifo_wait:.0f}); the account used at {used:.1%} of its limit; {rate_limited} × 429"
    )
    return {
        "backlog": backlog,
        "light_users": light_users,
        "window_seconds": WINDOW,
        "margin_seconds": MARGIN,
        "light_waits_windows": sorted(waits),
        "light_wait": summary(waits),
        "fifo_wait_windows": fifo_wait,
        "utilisation": used,
        "created": len(created),
        "rate_limited": rate_limited,
        "created_at": [t - created[0] for t in created] if created else [],
        "target_met": rate_limited == 0 and len(waits) == light_users and max(waits) <= 1.0 and used >= 0.95,
    }

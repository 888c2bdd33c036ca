"""5. A burst of KIE submissions above its 20 per 10 s: no 429 from the provider, and the queueing
delay the generator's shared limiter costs (accepted by the gateway -> task created at KIE, which
is when the generator publishes TaskStarted)."""

import asyncio
import time
from typing import Any

import httpx

from ..common import Job, attach_simulator_tasks, log, parse_time, submit, summary
from ..system import System

LIMIT, WINDOW = 20, 10.0


async def run(system: System, count: int = 60) -> dict[str, Any]:
    users = [f"bench-burst-{i}" for i in range(10)]
    async with httpx.AsyncClient(timeout=30) as http:
        await system.make_pro(http, users)
        before = await system.sim(http, "stats")
        # Quick tasks, so that the burst's media and captions do not outlast the scenario by much.
        jobs = [
            Job("burst", "kie-4o-image", f"bench burst {i} [sim:duration=0.5]", users[i % len(users)])
            for i in range(count)
        ]
        began = time.time()
        await asyncio.gather(*(submit(http, system.gateway_url, system.auth(job.user), job) for job in jobs))
        accepted_in = time.time() - began
        log(f"  {count} submissions accepted by the gateway in {accepted_in:.2f} s; waiting for KIE tasks")
        expected_seconds = (count // LIMIT) * WINDOW
        deadline = time.monotonic() + expected_seconds + 60
        while time.monotonic() < deadline:
            await attach_simulator_tasks(http, system.simulator_url, jobs)
            if all(job.sim for job in jobs):
                break
            await asyncio.sleep(0.5)
        after = await system.sim(http, "stats")

    delays = [
        parse_time(job.sim["createdAt"]) - job.accepted_at  # type: ignore[operator]
        for job in jobs
        if job.sim.get("createdAt")
    ]
    rate_limited = int(after.get("rateLimited", 0)) - int(before.get("rateLimited", 0))
    created = len(delays)
    duplicates = sum(1 for job in jobs if job.sim and int(job.sim.get("submissions", 1)) > 1)
    queue = summary(delays)
    log(
        f"  {created}/{count} tasks created, {rate_limited} answered 429 by the provider;"
        f" queueing delay p50 {queue['p50'] or 0:.1f} s, max {queue['max'] or 0:.1f} s"
    )
    ideal_max = ((count - 1) // LIMIT) * WINDOW
    return {
        "count": count,
        "created": created,
        "rate_limited": rate_limited,
        "duplicate_submissions": duplicates,
        "queue_delay": queue,
        "delays": sorted(delays),
        "ideal_max_delay": ideal_max,
        "submit_outcomes_before": before.get("submitOutcomes"),
        "submit_outcomes_after": after.get("submitOutcomes"),
        "target_met": rate_limited == 0 and created == count,
    }

"""2. Time to ready and status checks per job, for jobs of realistic (scaled-down) durations:
with callbacks, with callbacks silently lost, with callbacks turned off, and the original
design's fixed polling as the baseline.

Delay = the asset's completedAt minus the simulator's finishedAt for its task (one clock: the
same machine). Checks = the simulator's record-info count for the task.
"""

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ..common import Job, attach_simulator_tasks, log, parse_time, submit, summary, wait_finished
from ..system import POLL_INTERVAL_SECONDS, REAL_SECONDS, TIME_SCALE, System

PROVIDERS = ("kie-veo3", "kie-4o-image", "kie-flux-kontext")
# Spread of real durations around the typical one (log-normal sigma): Veo3 takes 2-3 minutes or so.
SPREAD = 0.25
# Under KIE's 20 submissions per 10 s, so that the rate limit does not shape this scenario.
SUBMITS_PER_SECOND = 1.8
TARGET_MEDIAN_DELAY = 1.0
TARGET_CHECKS = 1.5


@dataclass(frozen=True)
class Variant:
    name: str
    title: str
    marker: str = ""


WARMUP = Variant("warmup", "cold start (the poller has not learned durations yet), callbacks")
CALLBACKS = Variant("callbacks", "callbacks delivered")
LOST = Variant("lost", "callbacks silently lost ([sim:callback=none]), the first jobs", " [sim:callback=none]")
NOTICED = Variant(
    "lost_noticed", "callbacks still lost, after the poller noticed (steady state)", " [sim:callback=none]"
)
DISABLED = Variant("disabled", "callbacks turned off (KIE_CALLBACKS_ENABLED=false)")
BASELINE = Variant("baseline", "fixed polling every interval, no callbacks (the original design)")


def durations(count_per_provider: int, rng: random.Random) -> list[tuple[str, float]]:
    jobs = [
        (provider, REAL_SECONDS[provider] * TIME_SCALE * rng.lognormvariate(0, SPREAD))
        for provider in PROVIDERS
        for _ in range(count_per_provider)
    ]
    rng.shuffle(jobs)
    return jobs


async def run_variant(
    system: System, http: httpx.AsyncClient, variant: Variant, per_provider: int, rng: random.Random
) -> list[Job]:
    user = f"bench-ready-{variant.name}"
    await system.make_pro(http, [user])
    headers = system.auth(user)
    jobs = [
        Job(
            variant.name,
            provider,
            # epoch_ms: KIE's millisecond times (some of its models use them), so that the scaled-down
            # durations are not lost to whole-second rounding; callback=none when the variant says so.
            f"bench {variant.name} {i} [sim:duration={seconds:.3f}] [sim:variant=epoch_ms]{variant.marker}",
            user,
        )
        for i, (provider, seconds) in enumerate(durations(per_provider, rng))
    ]
    began = time.monotonic()
    for i, job in enumerate(jobs):
        await asyncio.sleep(max(0.0, began + i / SUBMITS_PER_SECOND - time.monotonic()))
        await submit(http, system.gateway_url, headers, job)
    await wait_finished(system.database_url, jobs, within=120)
    await attach_simulator_tasks(http, system.simulator_url, jobs)
    return jobs


def measure(jobs: list[Job]) -> dict[str, Any]:
    delays, checks, unfinished = [], [], 0
    per_provider: dict[str, dict[str, list[float]]] = {p: {"delay": [], "checks": []} for p in PROVIDERS}
    for job in jobs:
        finished_at = parse_time(job.sim.get("finishedAt"))
        if job.status != "ready" or job.ready_at is None or finished_at is None:
            unfinished += 1
            continue
        delay = job.ready_at - finished_at
        delays.append(delay)
        checks.append(float(job.sim.get("statusChecks", 0)))
        per_provider[job.provider]["delay"].append(delay)
        per_provider[job.provider]["checks"].append(float(job.sim.get("statusChecks", 0)))
    return {
        "jobs": len(jobs),
        "not_ready": unfinished,
        "delay": summary(delays),
        "checks_per_job": sum(checks) / len(checks) if checks else None,
        "checks": checks,
        "delays": delays,
        "callbacks_sent": sum(int(job.sim.get("callbacksSent", 0)) for job in jobs),
        "per_provider": {
            provider: {
                "median_delay": summary(values["delay"])["p50"],
                "checks_per_job": sum(values["checks"]) / len(values["checks"]) if values["checks"] else None,
            }
            for provider, values in per_provider.items()
        },
    }


async def run(system: System, per_provider: int = 4, warmup_per_provider: int = 3, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    results: dict[str, Any] = {
        "time_scale": TIME_SCALE,
        "poll_interval_seconds": POLL_INTERVAL_SECONDS,
        "typical_seconds": {p: REAL_SECONDS[p] * TIME_SCALE for p in PROVIDERS},
        "spread": SPREAD,
        "variants": {},
    }

    async def phase(variant: Variant, count: int) -> None:
        log(f"  {variant.name}: {count * len(PROVIDERS)} jobs - {variant.title}")
        jobs = await run_variant(system, http, variant, count, rng)
        measured = measure(jobs)
        measured["title"] = variant.title
        results["variants"][variant.name] = measured
        delay = measured["delay"]
        log(
            f"    median delay {delay['p50'] or 0:.2f} s (p95 {delay['p95'] or 0:.2f} s),"
            f" {measured['checks_per_job'] or 0:.2f} checks/job"
            + (f", {measured['not_ready']} not ready" if measured["not_ready"] else "")
        )

    log("  restarting the poller: a fresh replica that has learned no durations yet")
    system.restart("poller", {})
    async with httpx.AsyncClient(timeout=30) as http:
        await phase(WARMUP, warmup_per_provider)
        await phase(CALLBACKS, per_provider)
        await phase(LOST, per_provider)
        await phase(NOTICED, per_provider)
        log("  restarting the generator with KIE_CALLBACKS_ENABLED=false")
        system.restart("generator", {"KIE_CALLBACKS_ENABLED": "false"})
        await phase(DISABLED, per_provider)
        log("  restarting the poller with ADAPTIVE_SCHEDULE=false (the original fixed polling)")
        system.restart("poller", {"ADAPTIVE_SCHEDULE": "false"})
        await phase(BASELINE, per_provider)
    log("  restoring the generator and the poller to their defaults")
    system.restart("generator", {})
    system.restart("poller", {})

    variants = results["variants"]
    base, cb = variants[BASELINE.name], variants[CALLBACKS.name]
    results["targets"] = {
        "callbacks_median_delay": _met(cb["delay"]["p50"], lambda v: v < TARGET_MEDIAN_DELAY),
        "callbacks_checks": _met(cb["checks_per_job"], lambda v: v <= TARGET_CHECKS),
    }
    for name in (NOTICED.name, DISABLED.name):
        lost = variants[name]
        results["targets"][f"{name}_checks_vs_baseline"] = _met(
            lost["checks_per_job"], lambda v: v <= (base["checks_per_job"] or 0)
        )
        results["targets"][f"{name}_median_delay_vs_baseline"] = _met(
            lost["delay"]["p50"], lambda v: v < (base["delay"]["p50"] or 0)
        )
    return results


def _met(value: float | None, test: Any) -> dict[str, Any]:
    return {"value": value, "met": value is not None and bool(test(value))}

"""1. Gateway throughput: accepted generate-media requests per second and latency at rising
concurrency, beside a bare FastAPI endpoint served the same way (the ceiling)."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from aistudio_devstack import free_port, wait_for_port

from ..common import CpuMeter, log, summary
from ..system import REPO_ROOT, System

TARGET_RPS = 500.0
TARGET_P99_MS = 100.0
# Gemini answers at once with a refusal: the generator, usage and gateway still handle every job
# (claim, provider call, GenerationFailed, quota release, asset update), without image rendering
# or captions that would put the simulator's CPU into the gateway's figures.
BODY = {"prompt": "A benchmark request [sim:gemini=400]", "provider": "gemini-flash", "type": "image"}


def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as directory:
        out = Path(directory) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", json.dumps({**spec, "out": str(out)})],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=float(spec["duration_seconds"]) + 60,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(f"load generator failed ({completed.returncode}): {completed.stderr[-2000:]}")
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def _level(result: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    statuses = result["statuses"]
    accepted = [lat for lat, status in zip(result["latencies"], statuses, strict=True) if status in (200, 202)]
    errors: dict[str, int] = {}
    for status in statuses:
        if status not in (200, 202):
            errors[str(status)] = errors.get(str(status), 0) + 1
    lat = summary([value * 1000 for value in accepted])
    return {
        "concurrency": result["concurrency"],
        "rps": len(accepted) / result["window_seconds"],
        "requests": len(statuses),
        "errors": errors,
        "latency_ms": lat,
        "cpu": cpu,
    }


async def run(
    system: System,
    levels: tuple[int, ...] = (1, 8, 32, 64),
    duration: float = 3.0,
    warmup: float = 1.0,
    drain_timeout: float = 60.0,
    pause_downstream: bool = True,
) -> dict[str, Any]:
    users = [f"bench-load-{i}" for i in range(max(levels))]
    async with httpx.AsyncClient(timeout=30) as http:
        await system.make_pro(http, users)
    tokens = [system.token(user) for user in users]

    results: dict[str, list[dict[str, Any]]] = {"bare": [], "bare_insert": [], "gateway": []}
    # Two ceilings: the bare endpoint, then the same with one Postgres insert per request.
    for series, extra in (("bare", ()), ("bare_insert", (system.database_url,))):
        port = free_port()
        bare = system.spawn(series, "bench.bare", str(port), *extra)
        wait_for_port(port, timeout=30, proc=bare.proc)
        system.wait_http(f"http://127.0.0.1:{port}/readyz")
        watched = {series: bare.proc.pid}
        if extra and system.postgres and system.postgres.proc:
            watched["postgres"] = system.postgres.proc.pid
        try:
            for concurrency in levels:
                results[series].append(
                    await _measure(
                        f"http://127.0.0.1:{port}/api/ai/generate-media",
                        watched,
                        series,
                        concurrency,
                        duration,
                        warmup,
                        tokens,
                    )
                )
        finally:
            system.stop(series)
    pipeline: list[dict[str, Any]] = []
    idle = await _idle_cpu(system)
    log("  idle: " + ", ".join(f"{name} {share:.3f}" for name, share in idle.items() if share >= 0.005) + " cores")
    for concurrency in levels:
        began = time.time()
        # The pipeline's CPU per job: every process from the level's start until what it accepted
        # is finished, over those jobs (the load window alone would miss work still queued).
        whole = CpuMeter(system.pids())
        whole.start()
        level = await _measure(
            f"{system.gateway_url}/api/ai/generate-media",
            system.pids(),
            "gateway",
            concurrency,
            duration,
            warmup,
            tokens,
            system,
        )
        results["gateway"].append(level)
        drained = await _drain(system, concurrency, began, drain_timeout)
        drained.update(_cpu_per_job(whole.stop(), whole.seconds, drained["jobs"] - drained["left"], idle))
        pipeline.append(drained)

    # The accept path alone: the generator paused (SIGSTOP) for one level, so that the gateway,
    # usage, Postgres and NATS have the machine; the jobs it accepted wait in JetStream meanwhile.
    paused: dict[str, Any] | None = None
    if pause_downstream:
        concurrency = max(levels)
        generator = system.pid("generator")
        began = time.time()
        os.kill(generator, signal.SIGSTOP)
        try:
            url = f"{system.gateway_url}/api/ai/generate-media"
            paused = await _measure(url, system.pids(), "paused", concurrency, duration, warmup, tokens, system)
        finally:
            os.kill(generator, signal.SIGCONT)
        paused["pipeline"] = await _drain(system, concurrency, began, drain_timeout)

    best = max(results["gateway"], key=lambda level: level["rps"])
    at_target = [
        level
        for level in results["gateway"]
        if level["rps"] >= TARGET_RPS and (level["latency_ms"]["p99"] or 1e9) < TARGET_P99_MS
    ]
    return {
        "levels": list(levels),
        "duration_seconds": duration,
        "bare": results["bare"],
        "bare_insert": results["bare_insert"],
        "gateway": results["gateway"],
        "pipeline": pipeline,
        "paused": paused,
        "idle_cpu": idle,
        "best": best,
        "target_met": bool(at_target),
        "met_at": [level["concurrency"] for level in at_target],
    }


async def _idle_cpu(system: System, seconds: float = 3.0) -> dict[str, float]:
    """Each process's share of a core with no requests: timers, polling loops, heartbeats. On a
    machine where other work leaves the system few jobs a second, this floor divided by those few
    jobs would dominate a per-job figure, so the figures below are net of it."""
    meter = CpuMeter(system.pids())
    meter.start()
    await asyncio.sleep(seconds)
    return meter.stop()


def net_of_idle(cpu: dict[str, float], idle: dict[str, float]) -> dict[str, float]:
    return {name: max(0.0, share - idle.get(name, 0.0)) for name, share in cpu.items()}


def _cpu_per_job(cpu: dict[str, float], seconds: float, jobs: int, idle: dict[str, float]) -> dict[str, Any]:
    """CPU milliseconds per finished job, by process and in all, from shares of a core over `seconds`
    net of the idle floor; the gross total beside it."""
    if not jobs:
        return {"cpu_ms_per_job": {}, "cpu_ms_per_job_total": None, "cpu_ms_per_job_gross": None}
    per_job = {name: share * seconds * 1000 / jobs for name, share in net_of_idle(cpu, idle).items()}
    gross = sum(cpu.values()) * seconds * 1000 / jobs
    return {"cpu_ms_per_job": per_job, "cpu_ms_per_job_total": sum(per_job.values()), "cpu_ms_per_job_gross": gross}


async def _measure(
    url: str,
    pids: dict[str, int],
    target: str,
    concurrency: int,
    duration: float,
    warmup: float,
    tokens: list[str],
    system: System | None = None,
) -> dict[str, Any]:
    spec = {
        "url": url,
        "concurrency": concurrency,
        "duration_seconds": duration,
        "warmup_seconds": warmup,
        "tokens": tokens,
        "body": BODY,
    }
    meter = CpuMeter(pids)
    profiling = system.profiling(f"throughput-{target}-c{concurrency}") if system else contextlib.nullcontext()
    with profiling:
        meter.start()
        result = await asyncio.to_thread(_loadgen, spec)
        cpu = meter.stop()
    level = _level(result, cpu)
    level["machine_cores"] = meter.machine_cores
    log(
        f"  {target:7s} c={concurrency:<3d} {level['rps']:7.0f} accepted/s"
        f"  p50 {level['latency_ms']['p50'] or 0:6.1f} ms  p99 {level['latency_ms']['p99'] or 0:6.1f} ms"
        + (f"  errors {level['errors']}" if level["errors"] else "")
    )
    return level


async def _drain(system: System, concurrency: int, began: float, within: float) -> dict[str, Any]:
    """Wait for the pipeline to finish what the level accepted, so that levels do not overlap; how
    fast it finished them is the pipeline's own throughput (accept -> GenerationFailed -> asset)."""
    conn = await asyncpg.connect(system.database_url)
    try:
        start = time.monotonic()
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) AS jobs, count(*) FILTER (WHERE status = 'processing') AS left,"
                " EXTRACT(EPOCH FROM max(updated_at)) AS last FROM gateway.media_assets"
                " WHERE created_at >= to_timestamp($1)",
                began,
            )
            if not row["left"] or time.monotonic() - start > within:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    jobs, left = int(row["jobs"]), int(row["left"])
    seconds = float(row["last"] or began) - began
    rate = jobs / seconds if seconds > 0 else None
    log(
        f"          pipeline: {jobs} jobs finished {seconds:.1f} s after the level began"
        + (f" ({rate:.0f}/s)" if rate else "")
        + (f", {left} still processing" if left else "")
    )
    return {"concurrency": concurrency, "jobs": jobs, "seconds": seconds, "rate": rate, "left": left}

"""What the scenarios share: progress lines, percentiles, CPU and memory of processes, and
submitting jobs through the gateway and collecting their outcome."""

import asyncio
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import psutil

_STARTED = time.monotonic()


def log(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"[{int(elapsed) // 60:02d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


def parse_time(value: str | datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class CpuMeter:
    """CPU seconds used by each process (with its children: Postgres' backends) between start and stop."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items() if psutil.pid_exists(pid)}
        self._start: dict[str, float] = {}
        self._began = 0.0
        self._machine_start = 0.0
        self.machine_cores = 0.0
        self.seconds = 0.0  # the wall time between start and stop

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        total = 0.0
        for each in [proc, *proc.children(recursive=True)]:
            try:
                times = each.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
        return total

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def start(self) -> None:
        self._began = time.monotonic()
        self._machine_start = self._machine_busy()
        self._start = {name: self._cpu(proc) for name, proc in self._procs.items()}

    def stop(self) -> dict[str, float]:
        """Share of one core each process used meanwhile (1.0 = one core busy all the time).
        `machine_cores` is how many cores the whole machine kept busy: everything, the load
        generator and any other work on the machine included."""
        wall = max(time.monotonic() - self._began, 1e-9)
        self.seconds = wall
        self.machine_cores = round((self._machine_busy() - self._machine_start) / wall, 3)
        used = {}
        for name, proc in self._procs.items():
            try:
                used[name] = round((self._cpu(proc) - self._start.get(name, 0.0)) / wall, 3)
            except psutil.Error:
                continue
        return used


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 1e6


@dataclass
class Job:
    """One generation submitted through the gateway, and what became of it."""

    label: str
    provider: str
    prompt: str
    user: str
    submitted_at: float = 0.0  # wall clock, when the request was sent
    accepted_at: float = 0.0  # wall clock, when the 202 came back
    asset_id: str | None = None
    status: str | None = None
    ready_at: float | None = None  # the asset's completedAt
    sim: dict[str, Any] = field(default_factory=dict)  # the simulator's view of its task

    @property
    def media_type(self) -> str:
        return "video" if self.provider == "kie-veo3" else "image"


async def submit(http: httpx.AsyncClient, gateway_url: str, headers: dict[str, str], job: Job) -> None:
    job.submitted_at = time.time()
    response = await http.post(
        f"{gateway_url}/api/ai/generate-media",
        json={"prompt": job.prompt, "provider": job.provider, "type": job.media_type},
        headers=headers,
    )
    job.accepted_at = time.time()
    if response.status_code != 202:
        raise RuntimeError(f"generate-media answered {response.status_code}: {response.text}")
    job.asset_id = response.json()["id"]


async def wait_finished(database_url: str, jobs: Iterable[Job], within: float) -> None:
    """Until every job's asset has left `processing` (or `within` seconds pass)."""
    pending = {job.asset_id: job for job in jobs if job.asset_id}
    deadline = time.monotonic() + within
    conn = await asyncpg.connect(database_url)
    try:
        while pending and time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT id::text, status, completed_at, updated_at FROM gateway.media_assets"
                " WHERE id = ANY($1::uuid[])",
                list(pending),
            )
            for row in rows:
                if row["status"] != "processing":
                    job = pending.pop(row["id"])
                    job.status = row["status"]
                    job.ready_at = (row["completed_at"] or row["updated_at"]).timestamp()
            if pending:
                await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def attach_simulator_tasks(http: httpx.AsyncClient, simulator_url: str, jobs: Iterable[Job]) -> None:
    response = await http.get(f"{simulator_url}/_admin/tasks")
    response.raise_for_status()
    by_prompt = {task["prompt"]: task for task in response.json()}
    for job in jobs:
        job.sim = by_prompt.get(job.prompt, {})


async def processing_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM gateway.media_assets WHERE status = 'processing'"))
    finally:
        await conn.close()


def rounded(value: Any, digits: int = 3) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value

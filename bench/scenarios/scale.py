"""4. Scale: 10,000 tasks in flight tracked by one poller replica at the production interval
(30 s), then by two. The tasks are rows put straight into poller.tasks (as TaskStarted would
have), due evenly over the first interval; the simulator does not know their ids and answers
"recordInfo is null" (still running), so every check finds them pending and they stay in
flight. Each phase starts from the same load: fresh tasks replace the previous phase's.

Check lag: how late a check ends after its due time. The benchmark reads every task's row once
a second; when `checks` went up, the check ended at (new next_check_at - interval) and was due at
the next_check_at read before. Memory: the poller's resident set size, sampled each second.
"""

import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ..common import CpuMeter, log, rss_mb, summary
from ..system import System

TARGET_LAG_P99 = 1.0
TARGET_RSS_MB = 200.0
USER = "bench-scale"


async def _insert(conn: asyncpg.Connection, count: int, interval: float, *, all_due: bool = False) -> None:
    now = datetime.now(UTC)
    rows = [
        (
            uuid.uuid4(),
            USER,
            "kie-veo3",
            "video",
            f"bench scale {i}",
            secrets.token_hex(16),
            now if all_due else now + timedelta(seconds=2 + interval * i / count),
            now + timedelta(days=1),
            3,  # as if a few checks had already been made: the steady pace, every interval
        )
        for i in range(count)
    ]
    await conn.copy_records_to_table(
        "tasks",
        schema_name="poller",
        columns=[
            "asset_id",
            "user_id",
            "provider",
            "media_type",
            "prompt",
            "task_id",
            "next_check_at",
            "deadline_at",
            "checks",
        ],
        records=rows,
    )
    await conn.execute("SELECT pg_notify('poller_wakeup', '')")


async def _observe(
    system: System,
    conn: asyncpg.Connection,
    seconds: float,
    interval: float,
    replicas: list[str],
    state: dict[uuid.UUID, Any],
) -> dict[str, Any]:
    pids = [system.pid(name) for name in replicas]
    watched = {name: pid for name, pid in system.pids().items() if name in (*replicas, "simulator", "postgres")}
    meter = CpuMeter(watched)
    meter.start()
    lags: list[float] = []
    timeline: list[tuple[float, float, int, float]] = []  # (t, rss MB, checks that second, worst lag)
    rss_peak = 0.0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        tick = time.monotonic()
        rows = await conn.fetch(
            "SELECT asset_id, checks, EXTRACT(EPOCH FROM next_check_at) AS due FROM poller.tasks"
            " WHERE user_id = $1 AND state = 'pending'",
            USER,
        )
        checked, worst = 0, 0.0
        for row in rows:
            before = state.get(row["asset_id"])
            state[row["asset_id"]] = (row["checks"], float(row["due"]))
            if before is None or row["checks"] == before[0]:
                continue
            checked += row["checks"] - before[0]
            if row["checks"] - before[0] == 1:
                lag = float(row["due"]) - interval - before[1]
                lags.append(lag)
                worst = max(worst, lag)
        rss = sum(rss_mb(pid) for pid in pids) / len(pids)
        rss_peak = max(rss_peak, rss)
        timeline.append((round(tick - began, 1), round(rss, 1), checked, round(worst, 3)))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    window = time.monotonic() - began
    cpu = meter.stop()
    return {
        "cpu": cpu,
        "machine_cores": meter.machine_cores,
        "lag": summary(lags),
        "checks": len(lags),
        "checks_per_second": len(lags) / window,
        "rss_peak_mb": rss_peak,
        "timeline": timeline,
    }


def _cores(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.2f}" for name, share in cpu.items())


async def run(
    system: System,
    tasks: int = 10_000,
    interval: float = 30.0,
    one_replica_seconds: float = 30.0,
    two_replica_seconds: float = 30.0,
    capacity_tasks: int = 4000,
) -> dict[str, Any]:
    pace = " (the production pace)" if interval == 30 else ""
    log(f"  restarting the poller with POLL_INTERVAL_SECONDS={interval:g}{pace}")
    system.restart("poller", {"POLL_INTERVAL_SECONDS": str(interval)})
    idle_rss = rss_mb(system.pid("poller"))
    conn = await asyncpg.connect(system.database_url)
    phases: dict[str, dict[str, Any]] = {}
    try:
        for key, replicas, seconds in (
            ("one", ["poller"], one_replica_seconds),
            ("two", ["poller", "poller-2"], two_replica_seconds),
        ):
            if key == "two":
                system.restart("poller", {"POLL_INTERVAL_SECONDS": str(interval)}, replica="poller-2")
            # Each phase starts from the same load: the previous phase's tasks end, fresh ones arrive.
            await _retire(conn)
            await _insert(conn, tasks, interval)
            log(f"  {tasks} tasks in flight; {len(replicas)} replica(s) for {seconds:.0f} s")
            phase = phases[key] = await _observe(system, conn, seconds, interval, replicas, {})
            with system.profiling(f"scale-capacity-{key}"):
                phase["capacity"] = await _capacity(system, conn, capacity_tasks, interval, replicas)
            log(
                f"    {phase['checks_per_second']:.0f} checks/s, lag p50 {phase['lag']['p50'] or 0:.3f} s"
                f" p99 {phase['lag']['p99'] or 0:.3f} s max {phase['lag']['max'] or 0:.3f} s;"
                f" RSS peak {phase['rss_peak_mb']:.0f} MB per replica (idle {idle_rss:.0f} MB);"
                f" cores busy {_cores(phase['cpu'])} (whole machine {phase['machine_cores']:.2f});"
                f" at full tilt {phase['capacity']['checks_per_second']:.0f} checks/s,"
                f" {phase['capacity']['poller_cpu_ms_per_check'] or 0:.2f} ms of poller CPU per check"
            )
    finally:
        system.stop("poller-2")
        await _retire(conn)
        await conn.close()
    one, two = phases["one"], phases.get("two", {})
    from poller.settings import PollerSettings

    return {
        "tasks": tasks,
        "interval": interval,
        "max_concurrent_checks": PollerSettings.model_fields["max_concurrent_checks"].default,
        "idle_rss_mb": idle_rss,
        "one": one,
        "two": two,
        "target_met": (one["lag"]["p99"] or 1e9) < TARGET_LAG_P99 and one["rss_peak_mb"] < TARGET_RSS_MB,
    }


async def _capacity(
    system: System, conn: asyncpg.Connection, count: int, interval: float, replicas: list[str], limit: float = 30.0
) -> dict[str, Any]:
    """Checks per second at full tilt: `count` tasks all due at once, each checked once; and the
    CPU each check cost the pollers (and, beside, the simulator answering and Postgres)."""
    await _retire(conn)
    watched = {name: pid for name, pid in system.pids().items() if name in (*replicas, "simulator", "postgres")}
    meter = CpuMeter(watched)
    meter.start()
    await _insert(conn, count, interval, all_due=True)
    began = time.monotonic()
    done = 0
    while done < count and time.monotonic() - began < limit:
        await asyncio.sleep(0.25)
        done = int(
            await conn.fetchval(
                "SELECT count(*) FROM poller.tasks WHERE user_id = $1 AND state = 'pending' AND checks > 3", USER
            )
        )
    seconds = time.monotonic() - began
    cpu = meter.stop()
    cpu_seconds = {name: share * seconds for name, share in cpu.items()}
    poller_ms = sum(cpu_seconds.get(name, 0.0) for name in replicas) * 1000 / done if done else None
    return {
        "tasks": count,
        "checked": done,
        "seconds": seconds,
        "checks_per_second": done / seconds,
        "cpu": cpu,
        "machine_cores": meter.machine_cores,
        "poller_cpu_ms_per_check": poller_ms,
    }


async def _retire(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "UPDATE poller.tasks SET state = 'done', outcome = 'failed' WHERE user_id = $1 AND state = 'pending'", USER
    )

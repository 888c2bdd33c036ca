"""The CPU part of the benchmark (issue 17, items 3, 5 and 6): the profile summary, the CPU figures
against their targets in the report, and the bare ceiling that inserts one row per request."""

import asyncio
import cProfile
import json
import sys
from pathlib import Path

import asyncpg
import pytest

from bench import loadgen
from bench.bare import create_app
from bench.common import summary
from bench.profiles import library, markdown, summarise
from bench.report import cpu_figures, write_report

from ..support.services import serving


def _busy() -> int:
    return sum(len(json.dumps({"n": i})) for i in range(2000))


def test_a_profile_is_summed_by_library_with_shares_of_the_profiled_time(tmp_path: Path) -> None:
    profile = cProfile.Profile()
    profile.enable()
    _busy()
    profile.disable()
    path = tmp_path / "throughput-gateway-c8.gateway.prof"
    profile.dump_stats(str(path))

    summary_ = summarise(path)

    names = [name for name, _ in summary_["libraries"]]
    assert "stdlib json" in names
    shares = [share for _, share in summary_["libraries"]]
    assert 0.99 <= sum(shares) <= 1.01 or len(shares) == 12
    assert shares == sorted(shares, reverse=True)
    assert "throughput-gateway-c8.gateway.prof" in markdown([summary_])


def test_profiled_functions_are_named_by_their_library() -> None:
    assert library("/x/.venv/lib/python3.11/site-packages/httpcore/_async/connection_pool.py") == "httpcore"
    assert library("/work/main/services/gateway/src/gateway/catalog.py") == "gateway.catalog"
    assert library("/work/main/libs/runtime/src/aistudio_runtime/messaging.py") == "aistudio_runtime.messaging"
    assert library("/usr/lib/python3.11/logging/__init__.py") == "stdlib logging"
    assert library("~") == "builtins"


def _level(concurrency: int, rps: float, p99: float, cpu: dict[str, float]) -> dict[str, object]:
    return {"concurrency": concurrency, "rps": rps, "latency_ms": summary([p99 / 2, p99]), "cpu": cpu, "errors": {}}


def _results() -> dict[str, object]:
    gateway = [_level(1, 50, 30, {"gateway": 0.1}), _level(8, 400, 80, {"gateway": 0.6, "postgres": 0.4})]
    paused = _level(8, 500, 60, {"gateway": 0.5, "usage": 0.25, "postgres": 0.25})
    paused["pipeline"] = {"rate": 300}
    return {
        "machine": {"date": "today", "cpu": "cpu", "cores": 2, "memory_gb": 1, "python": "3.11", "system": "Linux"},
        "seconds": 1.0,
        "scenarios": {
            "throughput": {
                "levels": [1, 8],
                "duration_seconds": 3,
                "bare": [_level(1, 2000, 1, {"bare": 1}), _level(8, 4000, 3, {"bare": 1})],
                "bare_insert": [_level(1, 800, 2, {"bare_insert": 1}), _level(8, 1600, 9, {"bare_insert": 1})],
                "gateway": gateway,
                "pipeline": [
                    {
                        "concurrency": 1,
                        "jobs": 150,
                        "left": 0,
                        "rate": 50,
                        "cpu_ms_per_job_total": 9.0,
                        "cpu_ms_per_job": {"gateway": 5.0, "postgres": 4.0},
                    },
                    {
                        "concurrency": 8,
                        "jobs": 1200,
                        "left": 0,
                        "rate": 300,
                        "cpu_ms_per_job_total": 4.0,
                        "cpu_ms_per_job": {"gateway": 2.0, "generator": 1.0, "postgres": 1.0},
                    },
                ],
                "paused": paused,
                "idle_cpu": {"gateway": 0.1},  # a floor of a tenth of a core, taken off the accept figure
                "best": gateway[1],
                "target_met": False,
                "met_at": [],
            },
            "scale": {
                "tasks": 100,
                "interval": 30,
                "idle_rss_mb": 100,
                "max_concurrent_checks": 64,
                "one": {
                    "checks": 10,
                    "checks_per_second": 300,
                    "lag": summary([0.1]),
                    "rss_peak_mb": 110,
                    "cpu": {"poller": 0.5},
                    "timeline": [(0.0, 110.0, 10, 0.1)],
                    "capacity": {"checks_per_second": 800, "poller_cpu_ms_per_check": 1.1},
                },
                "two": {
                    "checks": 10,
                    "checks_per_second": 300,
                    "lag": summary([0.1]),
                    "rss_peak_mb": 110,
                    "cpu": {"poller": 0.3},
                    "timeline": [(0.0, 110.0, 10, 0.1)],
                    "capacity": {},
                },
                "target_met": True,
            },
        },
        "profiles": [
            {
                "file": "scale-capacity-one.poller.prof",
                "seconds": 2.0,
                "libraries": [("httpcore", 0.3)],
                "functions": [("httpcore:_assign:1 (5 calls)", 0.1)],
            }
        ],
    }


def test_the_cpu_figures_are_read_against_their_targets() -> None:
    figures = cpu_figures(_results()["scenarios"])  # type: ignore[arg-type]

    assert figures["accept_gross_ms"] == 2.0  # one core's worth over 500 requests a second
    assert figures["accept_ms"] == pytest.approx(1.8)  # less the gateway's idle floor
    assert figures["pipeline_ms"] == 4.0 and figures["pipeline_concurrency"] == 8  # the busiest level
    assert figures["check_ms"] == 1.1 and figures["checks_per_second"] == 800
    assert figures["bare_at8"]["ratio"] == 0.1
    assert figures["bare_insert_at8"]["ratio"] == 0.25


def test_the_report_has_a_cpu_section_with_its_chart_and_the_profiles(tmp_path: Path) -> None:
    report = write_report(_results(), tmp_path).read_text()

    assert "## CPU per unit of work" in report
    assert "17.3 accept path ≤ 1.8 ms CPU per request | 1.80 ms" in report
    assert "17.5 poller ≤ 1.3 ms CPU per check | 1.10 ms at full tilt, 800 checks/s | **met**" in report
    assert "bare + one insert 1600/s" in report and "× 0.250" in report
    assert "gateway ÷ bare + insert" in report
    assert "## Where the time goes (cProfile)" in report and "scale-capacity-one.poller.prof" in report
    assert (tmp_path / "cpu.png").stat().st_size > 0


async def test_the_bare_ceiling_with_an_insert_stores_one_row_per_answered_request(database_url: str) -> None:
    async with serving(create_app(database_url)) as url:
        result = await loadgen.run(
            {
                "url": f"{url}/api/ai/generate-media",
                "concurrency": 2,
                "duration_seconds": 0.5,
                "warmup_seconds": 0.0,
                "tokens": ["a"],
                "body": {"prompt": "A smoke test", "provider": "gemini-flash", "type": "image"},
            }
        )
    assert set(result["statuses"]) == {202}
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM bench_bare.requests")
    finally:
        await conn.close()
    assert stored >= len(result["statuses"]) > 0


async def test_the_load_generator_writes_a_large_result_to_the_file_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    async with serving(create_app()) as url:
        spec = {
            "url": f"{url}/api/ai/generate-media",
            "concurrency": 4,
            "duration_seconds": 1.0,
            "warmup_seconds": 0.1,
            "tokens": ["a"],
            "body": {"prompt": "A smoke test", "provider": "gemini-flash", "type": "image"},
            "out": str(out),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", json.dumps(spec), cwd=str(Path(__file__).parents[2])
        )
        assert await process.wait() == 0
    result = json.loads(out.read_text())
    assert result["concurrency"] == 4 and len(result["statuses"]) == len(result["latencies"]) > 20

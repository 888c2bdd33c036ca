"""The benchmark's own machinery, quickly: the load generator against the bare endpoint, and the report."""

from pathlib import Path

from bench import loadgen
from bench.bare import create_app
from bench.common import percentile, summary
from bench.report import write_report

from ..support.services import serving


async def test_the_load_generator_counts_answers_from_the_bare_endpoint() -> None:
    async with serving(create_app()) as url:
        result = await loadgen.run(
            {
                "url": f"{url}/api/ai/generate-media",
                "concurrency": 4,
                "duration_seconds": 0.4,
                "warmup_seconds": 0.1,
                "tokens": ["a", "b"],
                "body": {"prompt": "A smoke test", "provider": "gemini-flash", "type": "image"},
            }
        )
    assert result["concurrency"] == 4
    assert len(result["latencies"]) > 20
    assert set(result["statuses"]) == {202}


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 99) == 1.99
    assert summary([1.0, 2.0, 3.0, 4.0])["max"] == 4.0


def test_the_report_lists_each_target_with_its_chart(tmp_path: Path) -> None:
    results = {
        "machine": {"date": "today", "cpu": "cpu", "cores": 2, "memory_gb": 1, "python": "3.11", "system": "Linux"},
        "seconds": 1.0,
        "scenarios": {
            "overhead": {
                "gemini": {"summary": summary([40.0, 45.0, 60.0]), "samples": [40.0, 45.0, 60.0]},
                "kie": {"summary": summary([90.0, 120.0]), "samples": [90.0, 120.0]},
                "target_met": True,
            },
            "ratelimit": {
                "count": 3,
                "created": 3,
                "rate_limited": 0,
                "duplicate_submissions": 0,
                "queue_delay": summary([0.1, 0.2, 10.1]),
                "delays": [0.1, 0.2, 10.1],
                "ideal_max_delay": 10.0,
                "target_met": True,
            },
            "scale": {"error": "RuntimeError('boom')", "trace": "Traceback ..."},
        },
    }
    report = write_report(results, tmp_path).read_text()
    assert "3. instant provider" in report and "5. burst above 20 per 10 s" in report
    assert "scale: failed" in report
    assert (tmp_path / "overhead.png").stat().st_size > 0
    assert (tmp_path / "ratelimit.png").stat().st_size > 0

"""The cluster scenarios' system and report. A plain `pytest` runs the short form (one leader
kill); `make chaos` (CHAOS=full, or `-m chaos`) runs every scenario, quorum loss included."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..chaos.conftest import ARTIFACTS, HEADER
from ..chaos.scenario import Result
from .system import ClusterSystem

REPORT_PATH = ARTIFACTS / "cluster-report.md"
LOGS_PATH = ARTIFACTS / "cluster-logs"
SHORT = ("kill-stream-leader",)
_results: list[Result] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    if os.environ.get("CHAOS") == "full" or "chaos" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long cluster scenario: run with `make chaos` (CHAOS=full)")
    here = Path(__file__).parent
    for item in items:  # every item of the session comes through here, not only this directory's
        callspec = getattr(item, "callspec", None)
        if item.path.is_relative_to(here) and callspec is not None and callspec.params.get("scenario") not in SHORT:
            item.add_marker(skip)


@pytest.fixture
def cluster_system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClusterSystem]:
    callspec = getattr(request.node, "callspec", None)
    name = str(callspec.params.get("scenario", request.node.name) if callspec else request.node.name)
    system = ClusterSystem(tmp_path / "system")
    try:
        system.start()
    except Exception as exc:
        print(system.log_tails())
        system.stop()
        system.keep_logs(LOGS_PATH / name)
        record(Result(name, violations=[f"the system did not start: {exc}"]))
        raise
    try:
        yield system
    finally:
        system.stop()
        system.keep_logs(LOGS_PATH / name)


def record(result: Result) -> None:
    _results.append(result)
    lines = ["# Cluster report (3 NATS nodes, R3 streams, 2 replicas of every service)", "", HEADER]
    lines += [r.row() for r in _results] + [""]
    for r in _results:
        if r.violations:
            lines += [f"**{r.name}** broke:", *(f"- {v}" for v in r.violations), ""]
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text("\n".join(lines))

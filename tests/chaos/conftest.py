"""The chaos suite's system, its report, and which scenarios a plain `pytest` runs.

`pytest` (and so `make test`) runs the short form: the scenarios in scenario.SHORT. `make chaos`
(CHAOS=full, or `-m chaos`) runs every one.
"""

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .scenario import SHORT, Result
from .system import ChaosSystem

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
REPORT_PATH = ARTIFACTS / "chaos-report.md"
LOGS_PATH = ARTIFACTS / "chaos-logs"  # each scenario's service logs, kept after the run
HEADER = (
    "| scenario | verdict | fault at s | accepted | ready | errors by code | not accepted (HTTP) | KIE submits "
    "| Gemini calls | 429s | settle s |\n|---|---|---|---|---|---|---|---|---|---|---|"
)
_results: list[Result] = []


def full_run(config: pytest.Config) -> bool:
    return os.environ.get("CHAOS") == "full" or "chaos" in (config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if full_run(config):
        return
    skip = pytest.mark.skip(reason="long chaos scenario: run with `make chaos` (CHAOS=full)")
    here = Path(__file__).parent
    for item in items:  # every item of the session comes through here, not only this directory's
        callspec = getattr(item, "callspec", None)
        if item.path.is_relative_to(here) and callspec is not None and callspec.params.get("scenario") not in SHORT:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def chaos_system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChaosSystem]:
    callspec = getattr(request.node, "callspec", None)
    name = str(callspec.params.get("scenario", request.node.name) if callspec else request.node.name)
    system = ChaosSystem(tmp_path / "system")
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
        if request.node.stash.get(_CALL_FAILED, True):
            print(system.log_tails())
        system.stop()
        system.keep_logs(LOGS_PATH / name)


def record(result: Result) -> None:
    """Keep the scenario's line, and rewrite the report so that an interrupted run leaves one too."""
    _results.append(result)
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(render())


def render() -> str:
    lines = ["# Chaos report", "", HEADER, *(r.row() for r in _results), ""]
    for result in _results:
        if result.violations:
            lines.append(f"**{result.name}** broke:")
            lines.extend(f"- {violation}" for violation in result.violations)
            lines.append("")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _results:
        terminalreporter.section("chaos report")
        terminalreporter.write_line(render())
        terminalreporter.write_line(f"(written to {REPORT_PATH}; each scenario's logs in {LOGS_PATH})")

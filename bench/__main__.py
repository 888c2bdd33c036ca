"""`python -m bench` (what `make bench` runs): start the system, run the scenarios, write the report.

python -m bench                      # everything, a few minutes
python -m bench --only throughput,scale
python -m bench --quick              # small numbers, to try the machinery
python -m bench --keep               # keep the run's directory (logs of every process)
"""

import argparse
import asyncio
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import log, rounded
from .profiles import summarise_dir
from .report import write_report
from .scenarios import fairness, overhead, ratelimit, readiness, scale, streams, throughput
from .system import REPO_ROOT, System, install_signal_handlers, new_work_dir

# Overhead first, on a quiet system: right after the throughput levels the pipeline is still settling.
SCENARIOS = ("overhead", "throughput", "readiness", "ratelimit", "fairness", "streams", "scale")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated, any of {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="small numbers: a trial of the machinery, not figures")
    parser.add_argument("--keep", action="store_true", help="keep the run directory with every process's log")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "out"), help="where report.md and charts go")
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated services to run under cProfile during the measured windows (OUT/profiles);"
        " the profile slows them: its figures are shares, not throughput",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from OUT/results.json")
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def _machine() -> dict[str, Any]:
    import os

    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_before": round(os.getloadavg()[0], 2),
    }


async def _run(name: str, system: System, quick: bool) -> dict[str, Any]:
    if name == "throughput":
        if quick:
            return await throughput.run(system, levels=(1, 8), duration=1.5, warmup=0.5)
        return await throughput.run(system)
    if name == "overhead":
        return await overhead.run(system, count=8 if quick else 40, kie_count=3 if quick else 10)
    if name == "readiness":
        if quick:
            return await readiness.run(system, per_provider=1, warmup_per_provider=1)
        return await readiness.run(system)
    if name == "ratelimit":
        return await ratelimit.run(system, count=25 if quick else 60)
    if name == "fairness":
        return await fairness.run(system, backlog=60 if quick else 200)
    if name == "streams":
        return await streams.run(system, streams=300 if quick else 5000, changed_users=10 if quick else 40)
    if name == "scale":
        if quick:
            return await scale.run(
                system, tasks=500, one_replica_seconds=8, two_replica_seconds=8, interval=5, capacity_tasks=300
            )
        return await scale.run(system)
    raise ValueError(name)


def main() -> int:
    args = _arguments()
    if args.report_only:
        report = write_report(json.loads((Path(args.out) / "results.json").read_text()), Path(args.out))
        log(f"report: {report}")
        return 0
    install_signal_handlers()
    chosen = [name for name in SCENARIOS if name in args.only.split(",")]
    out = Path(args.out)
    results: dict[str, Any] = {"machine": _machine(), "quick": args.quick, "scenarios": {}}
    system = System(new_work_dir(), keep=args.keep)
    if args.profile:
        system.profile = tuple(args.profile.split(","))
        system.profile_dir = out / "profiles"
        for stale in system.profile_dir.glob("*.prof"):
            stale.unlink()
    began = time.monotonic()
    status = 0
    try:
        quick = " (quick)" if args.quick else ""
        log(f"AI Studio benchmark: {', '.join(chosen)}{quick}; run directory {system.work_dir}")
        system.start(log)
        for name in chosen:
            log(f"scenario: {name}")
            try:
                results["scenarios"][name] = rounded(asyncio.run(_run(name, system, args.quick)), 4)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one broken scenario still leaves a report of the others
                status = 1
                log(f"  {name} failed: {exc!r}")
                results["scenarios"][name] = {"error": repr(exc), "trace": traceback.format_exc()}
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        status = 130
    finally:
        log("stopping the system")
        system.close()
    results["seconds"] = round(time.monotonic() - began, 1)
    if not results["scenarios"]:
        log("no scenario finished: no report written")
    else:
        out.mkdir(parents=True, exist_ok=True)
        if system.profile_dir is not None and system.profile_dir.exists():
            results["profiles"] = summarise_dir(system.profile_dir)
        (out / "results.json").write_text(json.dumps(results, indent=1))
        report = write_report(results, out)
        log(f"report: {report}  (raw figures: {out / 'results.json'}; took {results['seconds']:.0f} s)")
        if args.keep:
            log(f"logs of every process: {system.work_dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())

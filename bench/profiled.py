"""Run a service under cProfile, profiling only the windows the benchmark asks for:
`python -m bench.profiled MODULE [ARGS...]`.

py-spy is not installable here and yappi is not a dependency, so the profile is the standard
library's cProfile inside the process, timed by the main thread's CPU clock. It profiles the main
thread only, which is where every service here runs its event loop.
SIGUSR1 starts a fresh profile; SIGUSR2 stops it and writes
`$BENCH_PROFILE_DIR/<BENCH_PROFILE_NAME>-<n>.prof`. cProfile roughly doubles the CPU of what it
measures, so a profiled run gives the shares of where the time goes, never the figures.
"""

import cProfile
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType


class _Windows:
    def __init__(self, out_dir: Path, name: str) -> None:
        self._out_dir = out_dir
        self._name = name
        self._profile: cProfile.Profile | None = None
        self._count = 0

    def start(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler runs in the main thread between bytecodes: enabling here profiles the
        # event loop's thread from the next instruction on.
        if self._profile is not None:
            self._profile.disable()
        # The main thread's CPU time, not the wall clock: on a shared machine a process is often
        # descheduled, and a wall-clock profile charges that wait to whatever function it hit.
        self._profile = cProfile.Profile(time.thread_time_ns, 1e-9)
        self._profile.enable()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        if self._profile is None:
            return
        self._profile.disable()
        self._count += 1
        self._out_dir.mkdir(parents=True, exist_ok=True)
        self._profile.dump_stats(str(self._out_dir / f"{self._name}-{self._count}.prof"))
        self._profile = None


def main() -> None:
    module, *rest = sys.argv[1:]
    windows = _Windows(Path(os.environ.get("BENCH_PROFILE_DIR", ".")), os.environ.get("BENCH_PROFILE_NAME", module))
    signal.signal(signal.SIGUSR1, windows.start)
    signal.signal(signal.SIGUSR2, windows.stop)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

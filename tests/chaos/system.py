"""The whole system for one chaos scenario: its own NATS and Postgres, the provider simulator and
the six services, each a separate process on free ports, all under one directory.

A scenario kills or stops one of them, so nothing here is shared with the rest of the suite: the
session's Postgres and NATS (tests/support/infra.py) must never see a fault meant for this one.
"""

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from aistudio_devstack import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port
from aistudio_runtime.migrations import upgrade

from ..support.services import TEST_JWT_SECRET

SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")

# The clock of the whole system during a scenario. Every job must end well inside the deadline
# when nothing is wrong (the slowest, Veo3, takes 3 s here); a job the system loses is failed by
# the sweepers soon after it, so a scenario with a bug still ends in minutes.
GENERATION_TIMEOUT_SECONDS = 90.0
STUCK_ASSET_GRACE_SECONDS = 15.0
RESERVATION_GRACE_SECONDS = 15.0
# The gateway's sweeper runs this often (not a setting): a stuck asset can wait this long more.
GATEWAY_SWEEP_INTERVAL_SECONDS = 60.0
FREE_MONTHLY_LIMIT = 3
TIME_SCALE = 0.1
# Longer than the longest wait a healthy handler has (a full KIE rate-limit window, 10 s), so
# redelivery means a dead consumer, not a slow one; short enough to recover within a scenario.
ACK_WAIT_SECONDS = 15.0

CALLBACK_SIGNING_KEY = "chaos-callback-signing-key-0123456789"
MEDIA_SIGNING_KEY = "chaos-media-signing-key-0123456789"
LATE_WEBHOOK_SECRET = "chaos-late-webhook-secret-0123456789"

try:  # looked up before any fork: the child only calls it
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None


def _die_with_parent() -> None:
    """A child gets SIGKILL if pytest itself dies, so no service outlives a crashed run."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def settle_limit_seconds() -> float:
    """How long after the last accepted request every asset must have left `processing`, even with
    a bug: the deadline, the sweeper's grace, one sweeper interval, and a margin for a loaded machine."""
    return GENERATION_TIMEOUT_SECONDS + STUCK_ASSET_GRACE_SECONDS + GATEWAY_SWEEP_INTERVAL_SECONDS + 45.0


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int  # where this incarnation's lines begin in the (appended) log


@dataclass
class ChaosSystem:
    work_dir: Path
    nats: EmbeddedNats = field(init=False)
    postgres: EmbeddedPostgres = field(init=False)
    procs: dict[str, Process] = field(default_factory=dict)
    gateway_port: int = field(default_factory=free_port)
    simulator_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    # -- start and stop -------------------------------------------------------------------------

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.nats = EmbeddedNats(self.work_dir / "nats").start()
        self.postgres = EmbeddedPostgres(self.work_dir / "postgres").start()
        asyncio.run(_migrate(self.postgres.url))
        self.env = self._environment()
        self.spawn("simulator", "provider_simulator", "--host", "127.0.0.1", "--port", str(self.simulator_port))
        wait_for_port(self.simulator_port, timeout=60, proc=self.procs["simulator"].proc)
        for name in SERVICES:
            self.spawn(name)
        for name in SERVICES:
            self.wait_started(name)

    def _environment(self) -> dict[str, str]:
        sim = self.simulator_url
        # A developer's SIMULATOR_* or service settings in the shell must not change the scenario.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
        }
        return {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "NATS_URL": self.nats.url,
            "DATABASE_URL": self.postgres.url,
            "GATEWAY_PORT": str(self.gateway_port),
            "PUBLIC_BASE_URL": self.gateway_url,
            "AUTH_JWT_SECRET": TEST_JWT_SECRET,
            "MEDIA_SIGNING_KEY": MEDIA_SIGNING_KEY,
            "CALLBACK_SIGNING_KEY": CALLBACK_SIGNING_KEY,
            "MEDIA_DIR": str(self.work_dir / "media"),
            "KIE_API_KEY": "simulated",
            "KIE_BASE_URL": sim,
            "GEMINI_API_KEY": "simulated",
            "GEMINI_BASE_URL": sim,
            "OPENAI_API_KEY": "simulated",
            "OPENAI_BASE_URL": f"{sim}/v1",
            # The simulator's Late, its webhooks signed with the secret the publisher registers.
            "LATE_API_KEY": "simulated",
            "LATE_BASE_URL": f"{sim}/late/api/v1",
            "LATE_WEBHOOK_SECRET": LATE_WEBHOOK_SECRET,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "console",
            "ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
            "IN_FLIGHT_GRACE_SECONDS": str(ACK_WAIT_SECONDS),
            "POLL_INTERVAL_SECONDS": "1",
            # Scaled with the deadline (production: 120 s of 1200 s); results here are kilobytes.
            "CHECK_LEASE_SECONDS": "10",
            # The same for a claimed post: a create a killed publisher left open is resolved this soon.
            "POST_LEASE_SECONDS": "10",
            "GENERATION_TIMEOUT_SECONDS": str(GENERATION_TIMEOUT_SECONDS),
            "STUCK_ASSET_GRACE_SECONDS": str(STUCK_ASSET_GRACE_SECONDS),
            "RESERVATION_GRACE_SECONDS": str(RESERVATION_GRACE_SECONDS),
            "SWEEP_INTERVAL_SECONDS": "2",
            "FREE_MONTHLY_LIMIT": str(FREE_MONTHLY_LIMIT),
            # KIE's real limit, on both sides: the generator must keep under it by itself.
            "KIE_SUBMIT_LIMIT": "20",
            "KIE_SUBMIT_WINDOW_SECONDS": "10",
            "SIMULATOR_PORT": str(self.simulator_port),
            "SIMULATOR_PUBLIC_URL": sim,
            "SIMULATOR_TIME_SCALE": str(TIME_SCALE),
            # The harness polls every asset far faster than a person's page would: no per-user request limit.
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "SIMULATOR_RATE_LIMIT_SUBMISSIONS": "20",
            "SIMULATOR_RATE_LIMIT_WINDOW_SECONDS": "10",
            "SIMULATOR_INITIAL_CREDITS": "1000000",
            "SIMULATOR_CALLBACK_RETRY_SECONDS": "1",
        }

    def spawn(self, name: str, *args: str) -> Process:
        log_path = self.work_dir / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", *(args or (name,))],
                env=self.env,
                cwd=self.work_dir,  # away from the checkout's .env: every setting comes from env
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        process = Process(name, proc, log_path, offset)
        self.procs[name] = process
        return process

    def wait_started(self, name: str, timeout: float = 120.0) -> None:
        """The gateway when /readyz answers 200; a FastStream service when it logs that it started."""
        process = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.proc.returncode} while starting")
            if name == "gateway":
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.gateway_url}/readyz", timeout=5).status_code == 200:
                        return
            elif b"started successfully" in process.log_path.read_bytes()[process.log_offset :]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{name} did not start within {timeout:.0f} s")

    def kill(self, name: str) -> None:
        process = self.procs[name]
        process.proc.send_signal(signal.SIGKILL)
        process.proc.wait(30)

    def restart(self, name: str) -> None:
        self.spawn(name)
        self.wait_started(name)

    def kill_nats(self) -> None:
        self.nats.kill()

    def restart_nats(self) -> None:
        """The same store directory and port, as a supervisor would bring it back."""
        self._wait_port_free(self.nats.port)
        self.nats.start()

    def crash_postgres(self) -> None:
        self.postgres.stop(mode="immediate")

    def restart_postgres(self) -> None:
        self._wait_port_free(self.postgres.port)
        self.postgres.start()

    @staticmethod
    def _wait_port_free(port: int, timeout: float = 30.0) -> None:
        from aistudio_devstack.embedded import port_in_use

        deadline = time.monotonic() + timeout
        while port_in_use(port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"port {port} still taken {timeout:.0f} s after the server died")
            time.sleep(0.1)

    def dead(self) -> dict[str, int]:
        """Every process that is not running, with its exit code."""
        exited = {name: p.proc.poll() for name, p in self.procs.items()}
        return {name: code for name, code in exited.items() if code is not None}

    def stop(self) -> None:
        """Everything, whatever state the scenario left it in: services, then NATS and Postgres."""
        for process in self.procs.values():
            if process.proc.poll() is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in self.procs.values():
            try:
                process.proc.wait(30)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait(10)
        with contextlib.suppress(Exception):
            self.nats.stop()
        with contextlib.suppress(Exception):
            self.postgres.stop()

    def keep_logs(self, into: Path) -> None:
        """Copy every log out of the temporary directory, which pytest recycles after a few runs."""
        shutil.rmtree(into, ignore_errors=True)
        into.mkdir(parents=True)
        for path in self._log_paths():
            if path.exists():
                shutil.copyfile(path, into / path.name)

    def _log_paths(self) -> list[Path]:
        return [
            *sorted(self.work_dir.glob("*.log")),
            self.work_dir / "nats" / "nats.log",
            self.work_dir / "postgres" / "server.log",
        ]

    def log_tails(self, chars: int = 4000) -> str:
        parts = []
        for path in self._log_paths():
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.relative_to(self.work_dir)} (last {chars} chars)\n{text[-chars:]}")
        return "\n".join(parts)


async def _migrate(database_url: str) -> None:
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        for service in SERVICES:
            await upgrade(conn, service)
    finally:
        await conn.close()

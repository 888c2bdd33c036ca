"""The six services and the provider simulator as real processes, as `make run` starts them."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from aistudio_devstack import free_port, wait_for_port

from ..support.services import TEST_JWT_SECRET

SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")
E2E_MEDIA_SIGNING_KEY = "e2e-media-signing-key-" + "m" * 32
E2E_CALLBACK_SIGNING_KEY = "e2e-callback-signing-key-" + "c" * 32
E2E_LATE_WEBHOOK_SECRET = "e2e-late-webhook-secret-" + "w" * 32


@dataclass
class Processes:
    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", *(args or (name,))], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> None:
        """SIGTERM, and the process must finish what it was doing and exit on its own."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) in (0, -signal.SIGTERM), f"{name} exited with {proc.returncode}"

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError(f"{name} did not stop within 30 s of SIGTERM") from None

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def system_processes(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[tuple[Processes, str, str]]:
    gateway_port, simulator_port = free_port(), free_port()
    gateway_url, simulator_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{simulator_port}"
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(gateway_port),
        "PUBLIC_BASE_URL": gateway_url,
        # Production mode (the default): the processes must start with strong keys and nothing else.
        "ENVIRONMENT": "production",
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "MEDIA_SIGNING_KEY": E2E_MEDIA_SIGNING_KEY,
        "CALLBACK_SIGNING_KEY": E2E_CALLBACK_SIGNING_KEY,
        "MEDIA_DIR": str(tmp_path / "media"),
        "KIE_API_KEY": "simulated",
        "KIE_BASE_URL": simulator_url,
        "GEMINI_API_KEY": "simulated",
        "GEMINI_BASE_URL": simulator_url,
        "OPENAI_API_KEY": "simulated",
        "OPENAI_BASE_URL": f"{simulator_url}/v1",
        "LATE_API_KEY": "simulated",
        "LATE_BASE_URL": f"{simulator_url}/late/api/v1",
        "LATE_WEBHOOK_SECRET": E2E_LATE_WEBHOOK_SECRET,
        "SIMULATOR_PORT": str(simulator_port),
        "SIMULATOR_TIME_SCALE": "0.02",
        "POLL_INTERVAL_SECONDS": "0.5",
        "ACK_WAIT_SECONDS": "3",
        "IN_FLIGHT_GRACE_SECONDS": "2",
        "HTTP_READ_TIMEOUT_SECONDS": "5",
        "LOG_LEVEL": "INFO",
        # The tests poll assets far faster than a person's page would: no per-user request limit.
        "RATE_LIMIT_PER_MINUTE": "1000000",
    }
    processes = Processes(env, tmp_path)
    processes.start("simulator", "provider_simulator", "--host", "127.0.0.1", "--port", str(simulator_port))
    wait_for_port(simulator_port, timeout=60, proc=processes.procs["simulator"])
    for name in SERVICES:
        processes.start(name)
    wait_for_port(gateway_port, timeout=60, proc=processes.procs["gateway"])
    _wait_ready(gateway_url)
    try:
        yield processes, gateway_url, simulator_url
    except BaseException:
        print(processes.logs())
        raise
    finally:
        processes.stop_all()


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("gateway not ready")

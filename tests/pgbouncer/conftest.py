"""Postgres through a real pgbouncer (Debian's package) in transaction mode.

For each test, a pgbouncer in front of the test's database: its configuration and its auth file
written here, listening on a free port. `database_url` is pgbouncer's address; the services get
DATABASE_DIRECT_URL (Postgres itself, for LISTEN and the migrations' lock) and
DB_STATEMENT_CACHE_SIZE=0 from the environment, as a deployment behind pgbouncer would set them.
Without the binary the tests skip locally and fail under CI, which must run them.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from aistudio_devstack import free_port

# The lifecycle's fixtures, imported to be used with this directory's `database_url`.
from ..lifecycle.conftest import lifecycle_options, lifecycle_simulator, simulator, system  # noqa: F401

PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
START_PATIENCE_SECONDS = 30.0
UNPRIVILEGED_USER = "nobody"


def pgbouncer_executable() -> str:
    found = next((path for path in PGBOUNCER_PATHS if Path(path).exists()), None) or shutil.which("pgbouncer")
    if found:
        return found
    reason = "Debian's pgbouncer is not installed; tools/ci/install-pgbouncer.sh installs it"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: the pgbouncer tests must run)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Pgbouncer:
    url: str  # the client's DSN: through pgbouncer
    direct_url: str  # Postgres itself
    process: subprocess.Popen[bytes]
    log: Path


def _through(direct_url: str, port: int, user: str, password: str) -> str:
    parts = urlsplit(direct_url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@127.0.0.1:{port}"))


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen within {START_PATIENCE_SECONDS}s: {log.read_text()[-2000:]}")


def start_pgbouncer(executable: str, direct_url: str, work_dir: Path, *, pool_size: int = 40) -> Pgbouncer:
    """pgbouncer in transaction mode in front of `direct_url`'s server, any database name passed on."""
    target = urlsplit(direct_url)
    user = target.username or "postgres"
    password = secrets.token_urlsafe(16)  # checked by pgbouncer; the test server itself trusts local users
    port = free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    auth_file, log = work_dir / "userlist.txt", work_dir / "pgbouncer.log"
    auth_file.write_text(f'"{user}" "{password}"\n')
    config = work_dir / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={target.hostname} port={target.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = md5",
                f"auth_file = {auth_file}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 500",
                # asyncpg sends no such parameter today; a driver that does must not be refused.
                "ignore_startup_parameters = extra_float_digits",
                "",
            ]
        )
    )
    # pgbouncer refuses to run as root (a CI container): it then takes an unprivileged identity,
    # having read its files first. Its log goes to stderr, into a file opened here.
    command = [executable, *(["-u", UNPRIVILEGED_USER] if os.geteuid() == 0 else []), str(config)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Pgbouncer(_through(direct_url, port, user, password), direct_url, process, log)


def stop_pgbouncer(bouncer: Pgbouncer) -> None:
    # SIGINT is pgbouncer's immediate shutdown: server connections close, so the database can be dropped.
    bouncer.process.send_signal(signal.SIGINT)
    try:
        bouncer.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        bouncer.process.kill()
        bouncer.process.wait()


_RUNNING: dict[str, Pgbouncer] = {}


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's database (the suite's fixture of that name) behind pgbouncer: its address is
    pgbouncer's, and the services' environment points LISTEN and migrations past it."""
    bouncer = start_pgbouncer(pgbouncer_executable(), database_url, tmp_path / "pgbouncer")
    monkeypatch.setenv("DATABASE_DIRECT_URL", bouncer.direct_url)
    monkeypatch.setenv("DB_STATEMENT_CACHE_SIZE", "0")
    _RUNNING[bouncer.url] = bouncer
    try:
        yield bouncer.url
    finally:
        del _RUNNING[bouncer.url]
        stop_pgbouncer(bouncer)


@pytest.fixture
def pgbouncer(database_url: str) -> Pgbouncer:
    return _RUNNING[database_url]

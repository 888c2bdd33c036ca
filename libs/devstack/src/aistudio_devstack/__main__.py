"""`python -m aistudio_devstack run|migrate` — what `make run` and `make migrate` call."""

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncpg
from dotenv import dotenv_values

from aistudio_runtime.migrations import downgrade, upgrade

from .embedded import EmbeddedNats, EmbeddedPostgres, wait_for_port
from .settings import DevstackSettings

SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")
PROVIDER_KEYS = ("KIE_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "LATE_API_KEY")
# Our own signing keys: generated per checkout under RUN_DIR when unset, so `make run` needs no setup.
GENERATED_SECRETS = {
    "MEDIA_SIGNING_KEY": "media-signing-key",
    "CALLBACK_SIGNING_KEY": "callback-signing-key",
}


def _run_dir() -> Path:
    return Path(DevstackSettings.of(merged_environment(Path(".env"), os.environ)).run_dir).resolve()


def _unset(env: Mapping[str, str], key: str) -> bool:
    """Blank, or a `<placeholder>` left from `.env.example`: not a value anyone chose."""
    value = env.get(key, "").strip()
    return not value or (value.startswith("<") and value.endswith(">"))


def merged_environment(dotenv: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """`.env` under the environment: a variable set in the shell wins, as with every dotenv tool."""
    from_file = {key: value for key, value in dotenv_values(dotenv).items() if value is not None}
    return {**from_file, **environ}


async def _migrate(dsn: str, packages: list[str], down: bool, steps: int | None) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for package in packages:
            versions = await (downgrade(conn, package, steps) if down else upgrade(conn, package))
            print(f"  {package}: {'undid' if down else 'applied'} {', '.join(versions) or 'nothing'}")
    finally:
        await conn.close()


def _dev_secret(run_dir: Path, name: str = "dev-jwt-secret") -> str:
    """A per-checkout random secret, kept so that sign-ins, links and callbacks survive restarts."""
    path = run_dir / name
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Infrastructure:
    """NATS and Postgres: the configured ones, or embedded ones under RUN_DIR."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.nats: EmbeddedNats | None = None
        self.postgres: EmbeddedPostgres | None = None

    def start(self, env: dict[str, str]) -> None:
        ports = DevstackSettings.of(env)
        if not env.get("NATS_URL"):
            port = ports.run_nats_port
            self.nats = EmbeddedNats(self.run_dir / "nats", port=port).start()
            env["NATS_URL"] = self.nats.url
            print(f"  embedded NATS JetStream at {self.nats.url} (state in {self.run_dir / 'nats'})")
        if not env.get("DATABASE_URL"):
            port = ports.run_postgres_port
            self.postgres = EmbeddedPostgres(self.run_dir / "postgres", port=port).start()
            env["DATABASE_URL"] = self.postgres.url
            print(f"  embedded Postgres at {self.postgres.url} (data in {self.run_dir / 'postgres'})")

    def stop(self) -> None:
        if self.postgres:
            self.postgres.stop()
        if self.nats:
            self.nats.stop()


def _simulated_providers(env: dict[str, str], run_dir: Path) -> subprocess.Popen[bytes] | None:
    missing = [key for key in PROVIDER_KEYS if not env.get(key)]
    if not missing:
        return None
    port = DevstackSettings.of(env).simulator_port
    base = f"http://127.0.0.1:{port}"
    sim_env = {**env, "SIMULATOR_PORT": str(port), "SIMULATOR_PUBLIC_URL": base}
    if "KIE_API_KEY" in missing and _unset(env, "KIE_CALLBACK_HMAC_KEY"):
        # The simulated KIE signs its callbacks as the real one can, so the gateway's check runs too.
        env["KIE_CALLBACK_HMAC_KEY"] = _dev_secret(run_dir, "kie-callback-hmac-key")
    if "KIE_API_KEY" in missing:
        sim_env["SIMULATOR_CALLBACK_HMAC_KEY"] = env["KIE_CALLBACK_HMAC_KEY"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "provider_simulator", "--host", "127.0.0.1", "--port", str(port)],
        env=sim_env,
        start_new_session=True,
    )
    wait_for_port(port, timeout=60, proc=proc)
    for key in missing:
        env[key] = "simulated"
        if key == "KIE_API_KEY":
            env["KIE_BASE_URL"] = base
        elif key == "GEMINI_API_KEY":
            env["GEMINI_BASE_URL"] = base
        elif key == "LATE_API_KEY":
            # Simulated accounts; the simulator signs its webhooks with the secret the publisher registers.
            env["LATE_BASE_URL"] = f"{base}/late/api/v1"
            if _unset(env, "LATE_WEBHOOK_SECRET"):
                env["LATE_WEBHOOK_SECRET"] = _dev_secret(run_dir, "late-webhook-secret")
        else:
            env["OPENAI_BASE_URL"] = f"{base}/v1"
    print(f"  provider simulator at {base} for: {', '.join(missing)} (set the keys to use the real providers)")
    return proc


def local_environment(
    run_dir: Path, environ: Mapping[str, str] | None = None, dotenv: Path = Path(".env")
) -> dict[str, str]:
    """Everything the services get: `.env`, the environment over it, then `make run`'s own defaults
    for whatever is still unset. honcho is given exactly this (its own `.env` loading would let the
    file override the shell)."""
    env = merged_environment(dotenv, os.environ if environ is None else environ)

    def default(key: str, value: str) -> None:
        if _unset(env, key):
            env[key] = value

    # The Procfile says `python`: make it this virtualenv's interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    default("ENVIRONMENT", "development")
    default("GATEWAY_PORT", "8000")
    default("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['GATEWAY_PORT']}")
    default("MEDIA_DIR", str(run_dir / "media"))
    ports = DevstackSettings.of(env)
    for worker in ("generator", "poller", "usage", "captioner", "publisher"):
        default(f"{worker.upper()}_HEALTH_PORT", str(getattr(ports, f"{worker}_health_port")))
    if all(_unset(env, key) for key in ("AUTH_JWT_SECRET", "AUTH_JWKS_URL", "SUPABASE_URL")):
        env["AUTH_JWT_SECRET"] = _dev_secret(run_dir)
        default("DEV_AUTH_ENABLED", "true")
    for key, name in GENERATED_SECRETS.items():
        default(key, _dev_secret(run_dir, name))
    default("LOG_FORMAT", "console")
    default("PYTHONUNBUFFERED", "1")
    return env


def _empty_env_file(run_dir: Path) -> Path:
    """honcho reads a .env of its own (overriding the environment): point it at an empty one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "honcho.env"
    path.write_text("# intentionally empty: the devstack passes the merged environment itself\n")
    return path


def _stop_on_sigterm() -> None:
    """SIGTERM (a supervisor, `kill`) stops everything the same way Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run() -> int:
    _stop_on_sigterm()
    run_dir = _run_dir()
    env = local_environment(run_dir)
    infra = Infrastructure(run_dir)
    simulator = None
    services: subprocess.Popen[bytes] | None = None
    print("AI Studio: starting")
    try:
        infra.start(env)
        asyncio.run(_migrate(env["DATABASE_URL"], list(SERVICES), down=False, steps=None))
        simulator = _simulated_providers(env, run_dir)
        procfile = Path("Procfile").resolve()
        print(f"\n  gateway:  {env['PUBLIC_BASE_URL']}  (web page at /, API docs at /docs)")
        print("  Ctrl-C stops everything; state is kept in", run_dir, "\n")
        services = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "honcho",
                "start",
                "-f",
                str(procfile),
                "-d",
                str(procfile.parent),
                "-e",
                str(_empty_env_file(run_dir)),
            ],
            env=env,
        )
        return services.wait()
    except KeyboardInterrupt:
        if services is not None and services.poll() is None:
            services.send_signal(signal.SIGINT)  # honcho stops every service and waits for them
            services.wait(60)
        return 0
    finally:
        if simulator is not None and simulator.poll() is None:
            simulator.terminate()
            simulator.wait(10)
        infra.stop()


def migrate(args: argparse.Namespace) -> int:
    run_dir = _run_dir()
    env = merged_environment(Path(".env"), os.environ)
    infra = Infrastructure(run_dir)
    try:
        infra.start(env)
        asyncio.run(_migrate(env["DATABASE_URL"], args.services or list(SERVICES), args.down, args.steps))
    finally:
        infra.stop()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="aistudio_devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole system")
    migrate_parser = commands.add_parser("migrate", help="apply (or undo) service migrations")
    migrate_parser.add_argument("services", nargs="*", help=f"any of {', '.join(SERVICES)} (default: all)")
    migrate_parser.add_argument("--down", action="store_true")
    migrate_parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    unknown = set(getattr(args, "services", None) or []) - set(SERVICES)
    if unknown:
        parser.error(f"unknown services: {', '.join(sorted(unknown))}")
    sys.exit(run() if args.command == "run" else migrate(args))


if __name__ == "__main__":
    main()

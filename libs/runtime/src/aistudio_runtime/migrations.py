"""Per-service schema migrations, with upgrade and downgrade.

Each service owns one Postgres schema, named after its package, and keeps its migrations in
`<package>/migrations/NNNN_name.up.sql` (and `.down.sql`). Before them, the runtime's own
migrations (outbox, processed events) are applied inside the same schema. Applied versions are
recorded in `<schema>.schema_migrations`; an advisory lock lets replicas start together. That
lock is a session lock, so `conn` must be a session of its own on Postgres, never a connection
through pgbouncer in transaction mode: the runtime and this command use DATABASE_DIRECT_URL when set.
"""

import argparse
import asyncio
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.(up|down)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")
PLACEHOLDER = "__SCHEMA__"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    up: str
    down: str


def _collect(folder: Traversable, prefix: str, schema: str) -> list[Migration]:
    if not folder.is_dir():
        return []
    files = {entry.name: entry for entry in folder.iterdir() if _NAME.match(entry.name)}
    migrations = []
    for name in sorted(files):
        match = _NAME.match(name)
        assert match
        if match.group(2) != "up":
            continue
        down_name = name.removesuffix(".up.sql") + ".down.sql"
        if down_name not in files:
            raise RuntimeError(f"migration {name} has no {down_name}")
        migrations.append(
            Migration(
                version=f"{prefix}{match.group(1)}",
                up=files[name].read_text().replace(PLACEHOLDER, schema),
                down=files[down_name].read_text().replace(PLACEHOLDER, schema),
            )
        )
    return migrations


def migrations_for(package: str) -> list[Migration]:
    """The runtime's migrations, then the service's own, for the service in `package`."""
    if not _SCHEMA.match(package):
        raise ValueError(f"not a usable schema name: {package!r}")
    runtime = _collect(resources.files("aistudio_runtime") / "sql", "runtime-", package)
    own = _collect(resources.files(package) / "migrations", "", package)
    return runtime + own


async def _prepare(conn: asyncpg.Connection, schema: str) -> set[str]:
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    rows = await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")
    return {row["version"] for row in rows}


async def upgrade(conn: asyncpg.Connection, package: str) -> list[str]:
    applied = await _prepare(conn, package)
    done: list[str] = []
    try:
        for migration in migrations_for(package):
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.up)
                await conn.execute(f"INSERT INTO {package}.schema_migrations (version) VALUES ($1)", migration.version)
            done.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{package}")
    return done


async def downgrade(conn: asyncpg.Connection, package: str, steps: int | None = None) -> list[str]:
    """Undo the newest `steps` applied migrations (all of them when None)."""
    applied = await _prepare(conn, package)
    undone: list[str] = []
    try:
        for migration in reversed(migrations_for(package)):
            if steps is not None and len(undone) >= steps:
                break
            if migration.version not in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.down)
                await conn.execute(f"DELETE FROM {package}.schema_migrations WHERE version = $1", migration.version)
            undone.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{package}")
    return undone


async def _run(dsn: str, command: str, packages: list[str], steps: int | None) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for package in packages:
            if command == "up":
                versions = await upgrade(conn, package)
            else:
                versions = await downgrade(conn, package, steps)
            print(f"{package}: {command} {', '.join(versions) or 'nothing to do'}")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Apply or undo service schema migrations.")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("packages", nargs="+", help="service packages, e.g. gateway usage")
    parser.add_argument("--steps", type=int, default=None, help="with down: how many to undo")
    # Past any pgbouncer: the advisory lock must stay on the session that takes it.
    default_url = os.environ.get("DATABASE_DIRECT_URL") or os.environ.get("DATABASE_URL")
    parser.add_argument("--database-url", default=default_url)
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("DATABASE_URL is not set")
    asyncio.run(_run(args.database_url, args.command, args.packages, args.steps))


if __name__ == "__main__":
    main()

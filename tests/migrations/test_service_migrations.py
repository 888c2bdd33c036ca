"""Every service's migrations go up, all the way down, and up again, leaving nothing behind."""

import asyncpg
import pytest

from aistudio_runtime.migrations import downgrade, migrations_for, upgrade

from ..support.infra import SERVICES

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_go_down_and_up_again(database_url: str, service: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        versions = [migration.version for migration in migrations_for(service)]
        assert await upgrade(conn, service) == []  # the template database is already migrated
        assert await downgrade(conn, service) == list(reversed(versions))
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = $1 AND table_name <> 'schema_migrations'",
            service,
        )
        assert tables == 0
        assert await upgrade(conn, service) == versions
    finally:
        await conn.close()


def test_every_up_migration_has_a_down_migration() -> None:
    for service in SERVICES:
        assert all(migration.down.strip() for migration in migrations_for(service)), service

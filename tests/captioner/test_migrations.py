"""The captioner's schema goes down and up again cleanly."""

import asyncpg
import pytest

from aistudio_runtime.migrations import downgrade, upgrade

pytestmark = pytest.mark.integration


async def test_the_captioner_schema_can_be_undone_and_redone(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await downgrade(conn, "captioner", steps=3) == ["0003", "0002", "0001"]
        assert await conn.fetchval("SELECT to_regclass('captioner.captions')") is None
        assert await upgrade(conn, "captioner") == ["0001", "0002", "0003"]
        assert await conn.fetchval("SELECT to_regclass('captioner.user_settings')") is not None
    finally:
        await conn.close()

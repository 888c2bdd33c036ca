"""The runtime's LISTEN: a session connection of its own that is opened again when it is lost."""

import asyncio
import time
from collections.abc import Callable

import asyncpg
import pytest

from aistudio_runtime.db import Listener, connect_session

pytestmark = pytest.mark.integration

PATIENCE_SECONDS = 30.0


async def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE_SECONDS}s: {what}")
        await asyncio.sleep(0.05)


async def _notify(database_url: str, payload: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_notify('listener_test', $1)", payload)
    finally:
        await conn.close()


async def _listening_pids(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def test_a_listener_whose_connection_is_killed_listens_again_and_says_it_may_have_missed_some(
    database_url: str,
) -> None:
    heard: list[str | None] = []

    async def close(conn: asyncpg.Connection) -> None:
        await conn.close()

    listener = Listener(
        "listener_test", heard.append, connect=lambda: connect_session(database_url), release=close, check_seconds=0.5
    )
    await listener.start()
    try:
        await _notify(database_url, "first")
        await _wait_until(lambda: heard == [None, "first"], "the first notification")

        pids = await _listening_pids(database_url)
        assert len(pids) == 1
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pids[0])
        finally:
            await admin.close()
        await _wait_until(lambda: heard.count(None) == 2, "the listener reconnected")

        await _notify(database_url, "second")
        await _wait_until(lambda: heard[-1] == "second", "a notification after the reconnect")
    finally:
        await listener.close()
    assert not listener.connected
    assert await _listening_pids(database_url) == []

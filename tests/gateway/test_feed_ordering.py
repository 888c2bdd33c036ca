"""The live feed never skips a change, even when change-writers commit out of order."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from gateway.catalog import Catalog
from gateway.feed import parse_event_id

from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}
PATIENCE_SECONDS = 60.0  # a change reaches a stream through Postgres, on a loaded 2-core machine


class _Db:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool
    yield pool
    await pool.close()


class _Stream:
    """The events of one open SSE response, read in the background."""

    def __init__(self, response: httpx.Response) -> None:
        self.ready_id: str | None = None
        self.assets: list[tuple[int, str]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                if ":" in line and not line.startswith(":"):
                    key, _, value = line.partition(":")
                    current[key] = value.strip()
                continue
            if current.get("event") == "ready":
                self.ready_id = current["id"]
            elif current.get("event") == "asset":
                self.assets.append((int(current["id"]), json.loads(current["data"])["id"]))
            current = {}
            self._changed.set()

    async def wait_for(self, condition: Any) -> None:
        async with asyncio.timeout(PATIENCE_SECONDS):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def _stream(api: Api, user: str, last_event_id: str | None = None) -> AsyncIterator[_Stream]:
    headers = [(name.encode(), value.encode()) for name, value in api.auth(user).items()]
    if last_event_id is not None:  # as raw bytes: a header is latin-1 on the wire, and "²" is one
        headers.append((b"Last-Event-ID", last_event_id.encode("latin-1", errors="ignore") or last_event_id.encode()))
    async with api.client.stream("GET", "/api/ai/media/events", headers=headers, timeout=None) as response:
        assert response.status_code == 200
        stream = _Stream(response)
        try:
            await stream.wait_for(lambda: stream.ready_id is not None)
            yield stream
        finally:
            await stream.close()


async def _blocked_on_a_lock(pool: asyncpg.Pool, pid: int) -> bool:
    waiting = await pool.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)
    return bool(waiting)


async def test_a_change_that_took_its_number_first_and_commits_last_is_delivered_live_and_on_resume(
    api: Api, pool: asyncpg.Pool
) -> None:
    user = "ursula"
    first, second = [
        UUID((await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth(user))).json()["id"])
        for _ in range(2)
    ]
    catalog = Catalog(_Db(pool), generation_timeout_seconds=1200)
    async with _stream(api, user) as live:
        before = live.ready_id
        async with pool.acquire() as early, pool.acquire() as late:
            early_tx = early.transaction()
            await early_tx.start()
            await catalog.record_change(early, user, first)  # takes its number first...

            async def record_and_commit() -> None:
                async with late.transaction():
                    await catalog.record_change(late, user, second)

            committed_late = asyncio.create_task(record_and_commit())
            pid = late.get_server_pid()
            async with asyncio.timeout(PATIENCE_SECONDS):
                while not committed_late.done() and not await _blocked_on_a_lock(pool, pid):
                    await asyncio.wait({committed_late}, timeout=0.05)
            if committed_late.done():  # a writer that did not wait: let the stream read past `first`
                await live.wait_for(lambda: any(asset == str(second) for _, asset in live.assets))
            await early_tx.commit()  # ...and commits last
            await committed_late
        await live.wait_for(lambda: {str(first), str(second)} <= {asset for _, asset in live.assets})
        numbers = [seq for seq, _ in live.assets]
        assert numbers == sorted(numbers)

    async with _stream(api, user, before) as resumed:
        await resumed.wait_for(lambda: len(resumed.assets) >= 2)
        assert [asset for _, asset in resumed.assets] == [str(first), str(second)]


async def test_each_users_changes_are_numbered_on_their_own(api: Api) -> None:
    for user in ("vera", "walt"):
        async with _stream(api, user) as live:
            await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth(user))
            await live.wait_for(lambda: len(live.assets) == 1)
            assert live.assets[0][0] == 1


@pytest.mark.parametrize("last_event_id", ["²", "¹²", "-1", "1.5", "abc", "99999999999999999999999999999999"])
async def test_a_last_event_id_we_did_not_issue_resumes_from_the_latest_change(api: Api, last_event_id: str) -> None:
    await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("xena"))
    async with _stream(api, "xena", last_event_id) as stream:
        assert stream.ready_id == "1"
        assert stream.assets == []


def test_only_plain_ascii_digits_are_event_ids() -> None:
    assert parse_event_id("42") == 42
    assert parse_event_id("²") is None
    assert parse_event_id("") is None
    assert parse_event_id(None) is None

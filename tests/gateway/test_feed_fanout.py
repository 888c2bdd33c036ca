"""The live feed's database reads follow the changes, not the open streams: a user's streams in
one gateway process share one reader."""

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings

from ..support.services import serving
from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A red kite over a hill", "provider": "kie-4o-image", "type": "image"}
STREAMS = 5


async def _next_event(lines: Any, kind: str) -> dict[str, str]:
    current: dict[str, str] = {}
    async for line in lines:
        if line == "":
            if current.get("event") == kind:
                return current
            current = {}
        elif ":" in line and not line.startswith(":"):
            key, _, value = line.partition(":")
            current[key] = value.strip()
    raise AssertionError("the stream ended")


def _settled(feed: Any, streams: dict[str, int]) -> bool:
    users = feed._users
    return all(
        user in users
        and len(users[user].streams) == count
        and (users[user]._reader is None or users[user]._reader.done())
        for user, count in streams.items()
    )


async def test_a_change_is_read_once_for_all_of_a_users_streams_and_not_for_other_users(
    usage_service: None, make_gateway_settings: Callable[..., GatewaySettings]
) -> None:
    settings = make_gateway_settings(max_streams_per_user=STREAMS)
    app = create_gateway(settings)
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        api = Api(base_url, client, settings)
        feed = app.state.gateway.feed
        reads: Counter[str] = Counter()
        changes_after = feed.changes_after

        async def counted(user_id: str, seq: int, limit: int = 200) -> Any:
            reads[user_id] += 1
            return await changes_after(user_id, seq, limit)

        feed.changes_after = counted
        users = ["fan"] * STREAMS + ["quiet-1", "quiet-2", "quiet-3"]
        async with contextlib.AsyncExitStack() as stack:
            streams = [
                await stack.enter_async_context(client.stream("GET", "/api/ai/media/events", headers=api.auth(user)))
                for user in users
            ]
            lines = [stream.aiter_lines() for stream in streams]
            for line_iter in lines:
                await asyncio.wait_for(_next_event(line_iter, "ready"), timeout=60)
            # Every stream has joined its user's feed and each first read (the resume point) is done.
            for _ in range(1200):  # 60 s: each first read is a query, on a loaded machine
                if _settled(feed, {"fan": STREAMS, "quiet-1": 1, "quiet-2": 1, "quiet-3": 1}):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the streams never joined their feeds")
            reads.clear()

            created = []
            for _ in range(3):
                response = await client.post("/api/ai/generate-media", json=VALID, headers=api.auth("fan"))
                assert response.status_code == 202
                created.append(response.json()["id"])
            for line_iter in lines[:STREAMS]:
                seen: list[str] = []
                while len(seen) < 3:
                    event = await asyncio.wait_for(_next_event(line_iter, "asset"), timeout=60)
                    seen.append(json.loads(event["data"])["id"])
                assert seen == created
    # Three changes, five streams: at most one read per change (the old feed read 15 times).
    assert 1 <= reads["fan"] <= 3, reads
    assert all(reads[f"quiet-{n}"] == 0 for n in (1, 2, 3)), reads

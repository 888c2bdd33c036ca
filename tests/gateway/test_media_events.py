"""Server-sent events of asset changes: live, per user, resumable with Last-Event-ID."""

import asyncio
import json
from typing import Any

import httpx
import pytest

from .conftest import Api

pytestmark = pytest.mark.integration

VALID = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}


async def _events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current.get("event") == "asset":
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif ":" in line and not line.startswith(":"):
            key, _, value = line.partition(":")
            current[key] = value.strip()
    return events


async def test_a_new_asset_is_pushed_to_its_owner(api: Api) -> None:
    async with api.client.stream("GET", "/api/ai/media/events", headers=api.auth("alice")) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        created = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("alice"))).json()
        [event] = await asyncio.wait_for(_events(stream, 1), timeout=10)
    asset = json.loads(event["data"])
    assert asset["id"] == created["id"] and asset["status"] == "processing"
    assert int(event["id"]) > 0


async def test_a_stream_resumes_after_the_last_event_id(api: Api) -> None:
    first = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    second = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    async with api.client.stream(
        "GET", "/api/ai/media/events", headers={**api.auth("bob"), "Last-Event-ID": "0"}
    ) as stream:
        replayed = await asyncio.wait_for(_events(stream, 2), timeout=10)
    assert [json.loads(event["data"])["id"] for event in replayed] == [first["id"], second["id"]]
    async with api.client.stream(
        "GET", "/api/ai/media/events", headers={**api.auth("bob"), "Last-Event-ID": replayed[0]["id"]}
    ) as stream:
        rest = await asyncio.wait_for(_events(stream, 1), timeout=10)
    assert json.loads(rest[0]["data"])["id"] == second["id"]


async def test_other_users_changes_are_not_pushed(api: Api) -> None:
    async with api.client.stream("GET", "/api/ai/media/events", params={"access_token": api.token("carol")}) as stream:
        await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("mallory"))
        mine = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("carol"))).json()
        [event] = await asyncio.wait_for(_events(stream, 1), timeout=10)
    assert json.loads(event["data"])["id"] == mine["id"]


async def test_events_need_a_valid_token(api: Api) -> None:
    response = await api.client.get("/api/ai/media/events", params={"access_token": "nope"})
    assert response.status_code == 401

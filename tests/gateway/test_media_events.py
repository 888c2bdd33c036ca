"""Server-sent events of asset changes: live, per user, resumable with Last-Event-ID."""

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import Api

pytestmark = pytest.mark.integration

PATIENCE_SECONDS = 60  # a change reaches a stream through Postgres, on a loaded 2-core machine

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
        [event] = await asyncio.wait_for(_events(stream, 1), timeout=PATIENCE_SECONDS)
    asset = json.loads(event["data"])
    assert asset["id"] == created["id"] and asset["status"] == "processing"
    assert int(event["id"]) > 0


async def test_a_stream_resumes_after_the_last_event_id(api: Api) -> None:
    first = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    second = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("bob"))).json()
    async with api.client.stream(
        "GET", "/api/ai/media/events", headers={**api.auth("bob"), "Last-Event-ID": "0"}
    ) as stream:
        replayed = await asyncio.wait_for(_events(stream, 2), timeout=PATIENCE_SECONDS)
    assert [json.loads(event["data"])["id"] for event in replayed] == [first["id"], second["id"]]
    async with api.client.stream(
        "GET", "/api/ai/media/events", headers={**api.auth("bob"), "Last-Event-ID": replayed[0]["id"]}
    ) as stream:
        rest = await asyncio.wait_for(_events(stream, 1), timeout=PATIENCE_SECONDS)
    assert json.loads(rest[0]["data"])["id"] == second["id"]


async def test_other_users_changes_are_not_pushed(api: Api) -> None:
    async with api.client.stream("GET", "/api/ai/media/events", headers=api.auth("carol")) as stream:
        await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("mallory"))
        mine = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("carol"))).json()
        [event] = await asyncio.wait_for(_events(stream, 1), timeout=PATIENCE_SECONDS)
    assert json.loads(event["data"])["id"] == mine["id"]


async def test_events_need_a_valid_token(api: Api) -> None:
    response = await api.client.get("/api/ai/media/events", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def _ticket(api: Api, user: str) -> str:
    response = await api.client.post("/api/ai/media/events/ticket", headers=api.auth(user))
    assert response.status_code == 200
    assert response.json()["expiresAt"]
    return str(response.json()["ticket"])


async def test_a_stream_ticket_opens_the_users_stream_once(api: Api) -> None:
    ticket = await _ticket(api, "dave")
    async with api.client.stream("GET", "/api/ai/media/events", params={"ticket": ticket}) as stream:
        assert stream.status_code == 200
        mine = (await api.client.post("/api/ai/generate-media", json=VALID, headers=api.auth("dave"))).json()
        [event] = await asyncio.wait_for(_events(stream, 1), timeout=PATIENCE_SECONDS)
    assert json.loads(event["data"])["id"] == mine["id"]
    again = await api.client.get("/api/ai/media/events", params={"ticket": ticket})
    assert again.status_code == 401


async def test_a_stream_ticket_needs_a_signed_in_user(api: Api) -> None:
    assert (await api.client.post("/api/ai/media/events/ticket")).status_code == 401
    assert (await api.client.get("/api/ai/media/events", params={"ticket": "made-up"})).status_code == 401


async def test_a_bearer_token_in_the_url_no_longer_opens_a_stream(api: Api) -> None:
    response = await api.client.get("/api/ai/media/events", params={"access_token": api.token("erin")})
    assert response.status_code == 401


async def test_an_expired_stream_ticket_is_refused(api: Api) -> None:
    ticket = await _ticket(api, "frank")
    # Its minute is over: the expiry is moved into the past in Postgres rather than waited for.
    conn = await asyncpg.connect(api.settings.database_url)
    try:
        await conn.execute("UPDATE gateway.stream_tickets SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    assert (await api.client.get("/api/ai/media/events", params={"ticket": ticket})).status_code == 401

"""The page's live updates: server-sent events read with fetch, resumed after a drop.

A scripted stream stands in for GET /api/ai/media/events here, so that the test controls the wire
format (split writes, CRLF, comments, other event types) and sees the headers of each connection.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from playwright.async_api import expect

from .conftest import EVENTS_PATH, PageProblems, ScriptedEventStream, Studio
from .test_ai_studio_page import card, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def scripted_events(request: pytest.FixtureRequest) -> ScriptedEventStream:
    return ScriptedEventStream(**getattr(request, "param", {}))


async def test_the_page_follows_the_event_stream_and_resumes_it_after_a_drop(
    studio: Studio, scripted_events: ScriptedEventStream, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "erin")
    first = await scripted_events.connection(1)
    token = await page.evaluate("localStorage.getItem('aistudio.token')")
    assert first["authorization"] == f"Bearer {token}"  # in the header, not in the URL
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "erin"
    assert first["accept"] == "text/event-stream" and "last-event-id" not in first
    await expect(page.locator("#live-status")).to_have_text("● Live")

    response = await studio.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A paper boat on a rainy street", "provider": "kie-4o-image", "type": "image"},
        headers=studio.auth("erin"),
    )
    asset = response.json()
    # Newer than anything the server will write for this asset in the test, however slow the machine.
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    failed = {**asset, "status": "error", "errorMessage": "Streamed: the provider gave up.", "updatedAt": later}
    # One event split across writes, CRLF line ends, a comment and an event of another type.
    scripted_events.send(": keep-alive\r\n\r\nevent: other\r\ndata: {}\r\n\r\n")
    scripted_events.send(f"id: 41\r\nevent: asset\r\ndata: {json.dumps(asset)}\r\n\r\nid: 42\r\nevent: as")
    scripted_events.send(f"set\r\ndata: {json.dumps(failed)}\r")
    scripted_events.send("\n\r\n")
    paper_boat = card(page, "paper boat")
    # Only the stream carries this failure (the server's asset is processing), so no short timeout is
    # needed to tell it from a poll's answer.
    await expect(paper_boat.locator(".badge-text")).to_have_text("error")
    await expect(paper_boat).to_contain_text("Streamed: the provider gave up.")

    scripted_events.end_connection()
    second = await scripted_events.connection(2)
    assert second["last-event-id"] == "42"
    await expect(page.locator("#live-status")).to_have_text("● Live")
    assert problems.unexpected() == []


@pytest.mark.parametrize("scripted_events", [{"refuse_with": 503}], indirect=True, ids=["stream-down"])
async def test_the_page_polls_every_ten_seconds_while_the_stream_is_down_and_goes_live_when_it_is_back(
    studio: Studio, scripted_events: ScriptedEventStream, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/", fake_clock=True)
    await sign_in(page, "gina")
    await scripted_events.connection(1)
    await expect(page.locator("#live-status")).to_have_text("Refreshing every 10 s")

    response = await studio.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A kite over a windy beach", "provider": "kie-4o-image", "type": "image"},
        headers=studio.auth("gina"),
    )
    assert response.status_code == 202
    await page.clock.run_for(5_000)
    await expect(page.locator("li.asset")).to_have_count(0)
    await page.clock.run_for(5_000)
    await expect(card(page, "kite over a windy beach")).to_be_visible()
    assert len(scripted_events.connections) >= 2  # and it kept trying the stream meanwhile

    scripted_events.refuse_with = None
    await page.clock.run_for(60_000)
    await expect(page.locator("#live-status")).to_have_text("● Live")
    assert problems.unexpected((EVENTS_PATH, 503)) == []

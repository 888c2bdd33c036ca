"""A queued asset's card says where it stands: "Queued · 12th · starts in ~1 min"."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import PageProblems, ScriptedEventStream, Studio
from .test_ai_studio_page import card, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def scripted_events() -> ScriptedEventStream:
    return ScriptedEventStream()


async def test_a_queued_card_shows_its_place_and_when_it_starts_then_plain_progress_once_sent(
    studio: Studio, scripted_events: ScriptedEventStream, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "quinn")
    await scripted_events.connection(1)
    await expect(page.locator("#live-status")).to_have_text("● Live")
    response = await studio.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A lantern festival over a river", "provider": "kie-4o-image", "type": "image"},
        headers=studio.auth("quinn"),
    )
    asset = response.json()
    now = datetime.now(UTC)
    # Behind a backlog: eleven jobs ahead, the next free slots a minute away. The page shows "~1 min"
    # from 89 s down to 60 s: 85 s leaves 25 s for a loaded machine to draw it.
    queued = {
        **asset,
        "queuePosition": 12,
        "estimatedStartAt": (now + timedelta(seconds=85)).isoformat(),
        "estimatedReadyAt": (now + timedelta(seconds=125)).isoformat(),
        "updatedAt": (now + timedelta(seconds=1)).isoformat(),
    }
    scripted_events.send(f"id: 7\nevent: asset\ndata: {json.dumps(queued)}\n\n")
    lantern = card(page, "lantern festival")
    await expect(lantern.locator(".badge-text")).to_have_text("Queued · 12th · starts in ~1 min")

    sent = {
        **queued,
        "queuePosition": None,
        "estimatedStartAt": None,
        "updatedAt": (now + timedelta(seconds=2)).isoformat(),
    }
    scripted_events.send(f"id: 8\nevent: asset\ndata: {json.dumps(sent)}\n\n")
    await expect(lantern.locator(".badge-text")).to_have_text("processing")
    assert problems.unexpected() == []

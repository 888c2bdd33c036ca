"""The Post button and modal, and the posts strip, in headless Chromium: the gateway, usage and the
publisher in-process against Late on the wire (the simulator), over real NATS and Postgres."""

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from ..publisher.conftest import WEBHOOK_SECRET, LateAdmin, System, late, late_server, publisher_settings  # noqa: F401
from ..support.services import running
from .conftest import PageProblems, Studio

pytestmark = pytest.mark.browser

# A post crosses the gateway, NATS, the publisher and Late (simulated) on a loaded 2-core machine.
POSTING_TIMEOUT_MS = 60_000


@pytest.fixture
def studio_options() -> dict[str, object]:
    return {"late_webhook_secret": WEBHOOK_SECRET}


@pytest.fixture
async def posting(
    studio: Studio,
    late: LateAdmin,  # noqa: F811
    nats_url: str,
    database_url: str,
    media_dir: Path,
) -> AsyncIterator[System]:
    def start_publisher(**overrides: Any) -> Any:
        settings = publisher_settings(nats_url, database_url, media_dir, late.url, studio.base_url, **overrides)
        from publisher.app import create_app

        return running(create_app(settings))

    system = System(studio.api, late, studio.base_url, nats_url, database_url, media_dir, start_publisher)
    async with start_publisher():
        yield system


async def _card(page: Page, asset_id: str) -> Any:
    card = page.locator(f'li.asset[data-id="{asset_id}"]')
    await expect(card.locator(".post-button")).to_be_visible(timeout=POSTING_TIMEOUT_MS)
    return card


async def _open_modal(page: Page, asset_id: str, *accounts: str) -> Any:
    card = await _card(page, asset_id)
    await card.locator(".post-button").click()
    dialog = page.locator("#post-dialog")
    await expect(dialog).to_be_visible()
    for account in accounts:
        await dialog.locator(f'input[type=checkbox][value="{account}"]').check()
    return card


async def test_post_now_shows_the_published_post_with_its_link(
    posting: System, studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    asset_id = await posting.ready_asset("alice", caption="A calm lake at dawn")
    page = await open_page(f"{studio.base_url}/", token=studio.token("alice"))
    card = await _open_modal(page, asset_id, "acc_instagram")
    await page.locator("#post-caption").fill("Dawn #lake")
    await expect(page.locator("#post-counter")).to_contain_text("10 / 2200 characters · 1 / 30 hashtags")
    await page.locator("#post-submit").click()
    await expect(page.locator("#post-dialog")).to_be_hidden()
    item = card.locator(".post-item").first
    await expect(item).to_have_attribute("data-status", "published", timeout=POSTING_TIMEOUT_MS)
    link = item.locator("a.post-link")
    await expect(link).to_have_attribute("href", _starts_with("https://instagram.example/p/"))
    assert problems.unexpected() == []


async def test_a_post_scheduled_in_the_users_zone_is_sent_as_utc_and_can_be_cancelled(
    posting: System, studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    asset_id = await posting.ready_asset("alice")
    page = await open_page(f"{studio.base_url}/", token=studio.token("alice"))
    card = await _open_modal(page, asset_id, "acc_facebook")
    await page.locator('input[name="post-when"][value="later"]').check()
    local = (datetime.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    await page.locator("#post-at").fill(local.strftime("%Y-%m-%dT%H:%M"))
    await page.locator("#post-submit").click()
    item = card.locator(".post-item").first
    await expect(item).to_have_attribute("data-status", "scheduled", timeout=POSTING_TIMEOUT_MS)
    listed = (await studio.api.get(f"/api/posts?mediaId={asset_id}", headers=studio.auth("alice"))).json()
    sent = datetime.fromisoformat(listed["posts"][0]["scheduledFor"])
    assert sent == local.astimezone()  # the user's local time, as one instant (stored in UTC)
    await posting.wait_for(
        lambda: _late_answer(posting, listed["posts"][0]["id"]), lambda found: found.get("status") == "scheduled"
    )
    await item.locator(".post-cancel").click()
    await expect(card.locator(".post-item").first).to_have_attribute(
        "data-status", "cancelled", timeout=POSTING_TIMEOUT_MS
    )
    assert problems.unexpected() == []


async def test_a_caption_over_instagrams_limit_shows_the_error_in_the_modal(
    posting: System, studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    asset_id = await posting.ready_asset("alice")
    page = await open_page(f"{studio.base_url}/", token=studio.token("alice"))
    await _open_modal(page, asset_id, "acc_instagram")
    await page.locator("#post-caption").fill("x" * 2201)
    await expect(page.locator("#post-counter")).to_have_attribute("data-over", "true")
    await page.locator("#post-submit").click()
    await expect(page.locator("#post-error")).to_contain_text("Instagram captions are at most 2200 characters")
    await expect(page.locator("#post-dialog")).to_be_visible()
    assert problems.unexpected(("/posts", 400)) == []


class _Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


async def _late_answer(posting: System, post_id: str) -> _Answer:
    found = posting.late.posts_for(post_id)
    return _Answer(found[0] if found else {})


def _starts_with(prefix: str) -> Any:
    import re

    return re.compile("^" + re.escape(prefix))

"""The admin page in Chromium: a day of generations as tiles, daily bars and per-provider bars."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import PageProblems, Studio

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


async def _settled(pipeline: Studio, user: str, asset_id: str) -> None:
    for _ in range(600):
        asset = (await pipeline.api.get(f"/api/ai/media/{asset_id}", headers=pipeline.auth(user))).json()
        if asset["status"] != "processing":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{asset_id} still processing")


async def test_the_admin_page_shows_a_day_of_generations_as_charts(
    pipeline: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    made = []
    for user, prompt in [
        ("ana", "A red kite"),
        ("ana", "a red kite."),
        ("ben", "Forbidden [sim:result=content_policy]"),
    ]:
        body = {"prompt": prompt, "provider": "kie-4o-image", "type": "image"}
        response = await pipeline.api.post("/api/ai/generate-media", json=body, headers=pipeline.auth(user))
        assert response.status_code == 202, response.text
        made.append((user, response.json()["id"]))
    for user, asset_id in made:
        await _settled(pipeline, user, asset_id)

    admin = pipeline.token("the-admin", role="admin")
    for _ in range(100):  # the projection follows the events
        report = await pipeline.api.get("/api/admin/analytics", headers={"Authorization": f"Bearer {admin}"})
        totals = report.json()["totals"]
        if totals.get("ready", 0) + totals.get("failed", 0) == 3:
            break
        await asyncio.sleep(0.1)
    page = await open_page(f"{pipeline.base_url}/admin", token=admin)
    await page.wait_for_selector("body[data-loaded='true']")
    assert await page.text_content("#generations") == "3"
    assert await page.text_content("#success-rate") == "66.7 %"
    assert await page.text_content("#active-users") == "2"
    assert await page.locator("#daily rect.bar-ready").count() == 1
    assert await page.locator("#daily rect.bar-failed").count() == 1
    assert await page.locator("#providers rect.bar-provider").count() >= 1
    assert "a red kite" in (await page.text_content("#prompts") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "admin-analytics.png"), full_page=True)
    assert not problems.unexpected()


async def test_the_admin_page_tells_a_user_who_is_no_admin(
    pipeline: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(f"{pipeline.base_url}/admin", token=pipeline.token("ana"))
    await page.wait_for_selector("body[data-loaded='error']")
    assert "Only administrators" in (await page.text_content("#message") or "")
    assert problems.unexpected(("/api/admin/analytics", 403)) == []

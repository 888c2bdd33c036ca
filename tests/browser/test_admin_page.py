"""The admin page in Chromium: a day of generations as tiles, daily bars and per-provider bars, and
what they cost: spend, cost per delivered asset and waste by provider and by reason."""

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..support.simulator import SimulatorAdmin
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


async def test_the_admin_page_shows_a_day_of_generations_and_their_costs_as_charts(
    pipeline: Studio, simulator: SimulatorAdmin, open_page: Callable[..., Any], problems: PageProblems
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
    # A video the user stops once KIE has its task: paid, nothing delivered (waste, after the cancel).
    body = {"prompt": "A slow pan across a harbour [sim:duration=60]", "provider": "kie-veo3", "type": "video"}
    response = await pipeline.api.post("/api/ai/generate-media", json=body, headers=pipeline.auth("ben"))
    assert response.status_code == 202, response.text
    stopped = response.json()["id"]
    for _ in range(600):
        if any("harbour" in task["prompt"] for task in await asyncio.to_thread(simulator.tasks)):
            break
        await asyncio.sleep(0.1)
    response = await pipeline.api.post(f"/api/ai/media/{stopped}/cancel", headers=pipeline.auth("ben"))
    assert response.status_code == 200, response.text
    for user, asset_id in made:
        await _settled(pipeline, user, asset_id)

    admin = pipeline.token("the-admin", role="admin")
    figures: dict[str, Any] = {}
    for _ in range(600):  # the projection follows the events
        report = await pipeline.api.get("/api/admin/analytics", headers={"Authorization": f"Bearer {admin}"})
        figures = report.json()
        totals = figures["totals"]
        by_provider = {row["provider"]: row for row in figures["costs"]["byProvider"]}
        if (
            totals.get("ready", 0) + totals.get("failed", 0) == 3
            and figures["costs"]["totals"]["deliveredAssets"] == 2
            and figures["waste"]["count"] == 1
            and by_provider.get("openai", {}).get("calls") == 2  # the two ready images' captions
        ):
            break
        await asyncio.sleep(0.1)
    # 4o at 6 credits (two delivered, one failed) and the stopped Veo3 fast at 60, $0.005 a credit;
    # the two captions' OpenAI tokens a small fraction of a cent.
    kie, openai = by_provider["kie"], by_provider["openai"]
    assert kie["usd"] == 0.39 and 0 < openai["usd"] < 0.001
    total = figures["costs"]["totals"]["usd"]
    assert total == pytest.approx(kie["usd"] + openai["usd"])
    assert figures["costPerDeliveredAsset"] == pytest.approx(total / 2, abs=1e-6)
    assert figures["waste"]["usd"] == 0.3
    page = await open_page(f"{pipeline.base_url}/admin", token=admin)
    await page.wait_for_selector("body[data-loaded='true']")
    assert await page.text_content("#generations") == "4"  # the stopped video too
    assert await page.text_content("#success-rate") == "66.7 %"
    assert await page.text_content("#active-users") == "2"
    assert await _drawn(page, "#daily rect.bar-ready") == 1
    assert await _drawn(page, "#daily rect.bar-failed") == 1
    assert await _drawn(page, "#providers rect.bar-provider") >= 1
    assert "a red kite" in (await page.text_content("#prompts") or "")
    assert await page.text_content("#spend") == "$0.39"
    assert await page.text_content("#cost-per-asset") == "$0.20"
    assert await page.text_content("#waste") == "$0.30 · 1 call"
    assert await _drawn(page, "#provider-costs rect.bar-ready") == 2  # KIE's and OpenAI's
    assert await _drawn(page, "#provider-costs rect.bar-waste") == 1
    assert await _drawn(page, "#daily-costs rect.bar-failed") == 1
    assert "after the user cancelled" in (await page.text_content("#waste-reasons") or "")
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


async def _drawn(page: Any, selector: str) -> int:
    """Bars drawn with a height: a chart draws every stack of every row, zero-height ones too."""
    count = await page.eval_on_selector_all(
        selector, "bars => bars.filter((b) => Number(b.getAttribute('height')) > 0).length"
    )
    return int(count)

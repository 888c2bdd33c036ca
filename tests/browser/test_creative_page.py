"""The creative controls of the page in headless Chromium, against the real gateway and usage over
NATS JetStream and Postgres (and the whole pipeline with the provider simulator where an asset must
become ready): variants, batches as groups, style chips, templates, cancel and edit."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from provider_simulator.media import render_image

from ..support.events import publish
from .conftest import PHONE, PageProblems, ScriptedEventStream, Studio, screenshot_path
from .test_ai_studio_page import card, completed, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Changes arrive by the event stream at once; these are only the longest waits before a test gives up,
# never shorter than the page's 30 s on a loaded 2-core machine.
LIVE_TIMEOUT_MS = 60_000
PIPELINE_TIMEOUT_MS = 90_000


async def gallery_of(studio: Studio, user: str) -> list[dict[str, Any]]:
    response = await studio.api.get("/api/ai/media", headers=studio.auth(user))
    assert response.status_code == 200, response.text
    assets: list[dict[str, Any]] = response.json()["assets"]
    return assets


async def eventually(check: Callable[[], Awaitable[bool]], *, seconds: float = 30) -> None:
    """Polls `check` until it holds; the limit is generous, for a loaded machine."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.2)


async def chip_names(page: Page) -> list[str]:
    return await page.locator("#style-chips .chip").all_text_contents()


async def test_the_variants_selector_makes_a_batch_of_images_and_is_hidden_for_video(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "vera")
    variants = page.get_by_label("Variants")
    await expect(variants).to_have_value("1")
    await page.get_by_text("Video (8s)", exact=True).click()
    await expect(variants).to_be_hidden()
    await expect(variants).to_be_disabled()
    await page.get_by_text("Image", exact=True).click()
    await expect(variants).to_be_visible()

    await variants.select_option("3")
    await page.get_by_label("Prompt").fill("A red kite over green hills")
    await page.get_by_role("button", name="Generate Image").click()
    await expect(page.get_by_text("3 variants started! ✨")).to_be_visible()
    batch = page.locator("#gallery li.batch")
    await expect(batch).to_have_count(1)
    await expect(batch.locator("li.asset")).to_have_count(3)
    await expect(batch.locator(".batch-head")).to_have_text("Batch · 3 variants · 0 ready")
    await expect(page.locator("#usage-text")).to_contain_text("3 / 10 this month")

    assets = await gallery_of(studio, "vera")
    assert len(assets) == 3 and len({asset["batchId"] for asset in assets}) == 1
    assert assets[0]["batchId"] is not None
    assert await batch.get_attribute("data-batch-id") == assets[0]["batchId"]

    # Every variant needs a unit of its own, all at once: two asked with one left meets the limit dialog.
    for number in range(6):
        body = {"prompt": f"Filler picture number {number}", "provider": "gemini-flash", "type": "image"}
        response = await studio.api.post("/api/ai/generate-media", json=body, headers=studio.auth("vera"))
        assert response.status_code == 202, response.text
    await expect(page.locator("li.asset")).to_have_count(9, timeout=LIVE_TIMEOUT_MS)
    await variants.select_option("2")
    await page.get_by_label("Prompt").fill("Two more kites, one too many")
    await page.get_by_role("button", name="Generate Image").click()
    dialog = page.get_by_role("dialog", name="Monthly limit reached")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Got it").click()
    await expect(page.locator("li.asset")).to_have_count(9)
    await expect(page.locator("#usage-text")).to_contain_text("9 / 10 this month")
    assert problems.unexpected(("/api/ai/generate-media", 403)) == []


async def test_a_batch_is_shown_as_one_group_whose_variants_become_ready_in_it(
    pipeline: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    response = await pipeline.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A paper boat on a puddle", "provider": "kie-4o-image", "type": "image", "variants": 2},
        headers=pipeline.auth("wes"),
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batchId"]
    single = await pipeline.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A single lonely lighthouse", "provider": "gemini-flash", "type": "image"},
        headers=pipeline.auth("wes"),
    )
    assert single.status_code == 202, single.text

    page = await open_page(f"{pipeline.base_url}/", token=pipeline.token("wes"))
    batch = page.locator(f'#gallery li.batch[data-batch-id="{batch_id}"]')
    await expect(batch.locator("li.asset")).to_have_count(2)
    await expect(page.locator("#gallery > li.asset")).to_have_count(1)
    await expect(page.locator("#gallery > li.asset")).to_contain_text("single lonely lighthouse")
    await expect(batch.locator(".batch-head")).to_have_text("Batch · 2 variants · 2 ready", timeout=PIPELINE_TIMEOUT_MS)
    await expect(batch.locator('li.asset[data-status="ready"] .asset-media img')).to_have_count(2)
    await page.screenshot(path=screenshot_path("desktop-batch"), full_page=True)
    assert problems.unexpected() == []


async def test_style_chips_follow_the_type_and_the_chosen_style_goes_with_the_request(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    styles = (await studio.api.get("/api/ai/styles", headers=studio.auth("sam"))).json()["styles"]
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "sam")
    image_styles = [style["name"] for style in styles if "image" in style["types"]]
    video_styles = [style["name"] for style in styles if "video" in style["types"]]
    await expect(page.locator("#style-chips .chip")).to_have_count(len(image_styles))
    assert await chip_names(page) == image_styles
    await page.get_by_text("Video (8s)", exact=True).click()
    await expect(page.locator("#style-chips .chip")).to_have_count(len(video_styles))
    assert await chip_names(page) == video_styles
    await page.get_by_text("Image", exact=True).click()

    cinematic = page.get_by_role("button", name="Cinematic", exact=True)
    await cinematic.click()
    await expect(cinematic).to_have_attribute("aria-pressed", "true")
    vibrant = page.get_by_role("button", name="Vibrant", exact=True)
    await vibrant.click()  # one style at a time
    await expect(cinematic).to_have_attribute("aria-pressed", "false")
    await vibrant.click()  # pressed again: no style
    await expect(vibrant).to_have_attribute("aria-pressed", "false")
    await cinematic.click()
    phone = await open_page(f"{studio.base_url}/", PHONE, token=studio.token("sam"))
    await expect(phone.locator("#style-chips .chip")).to_have_count(len(image_styles))
    await phone.screenshot(path=screenshot_path("phone-creative-form"), full_page=True)

    await page.get_by_label("Prompt").fill("A lone rider crossing a desert")
    await page.get_by_role("button", name="Generate Image").click()
    rider = card(page, "lone rider")
    await expect(rider.locator(".asset-spec")).to_have_text("Image · 1:1 · Cinematic")
    await expect(rider.locator(".asset-prompt")).to_have_text("A lone rider crossing a desert")
    [asset] = await gallery_of(studio, "sam")
    assert asset["style"] == "cinematic" and asset["prompt"] == "A lone rider crossing a desert"
    assert problems.unexpected() == []


async def test_a_template_shows_its_variables_as_fields_and_generates_the_filled_in_prompt(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "tess")
    picker = page.locator("#template")
    await picker.select_option(label="Product hero shot")
    await expect(page.get_by_label("Prompt", exact=True)).to_be_hidden()
    product, surface = page.get_by_label("Product", exact=True), page.get_by_label("Surface", exact=True)
    await expect(product).to_be_visible()
    await expect(surface).to_be_visible()
    await product.fill("ceramic mug")
    await page.get_by_role("button", name="Generate Image").click()
    await expect(page.locator("#template-var-surface-error")).to_have_text("Fill in surface")
    await expect(surface).to_be_focused()
    await surface.fill("marble counter")
    filled = "A ceramic mug on a marble counter, soft studio light, hero shot for an online shop"
    await expect(page.locator("#template-preview")).to_have_text(filled)
    await page.locator("#generate-form").screenshot(path=screenshot_path("desktop-template"))
    await page.get_by_role("button", name="Generate Image").click()
    await expect(card(page, "ceramic mug").locator(".asset-prompt")).to_have_text(filled)
    await expect(product).to_have_value("")  # ready for the next one, the template still chosen
    [asset] = await gallery_of(studio, "tess")
    assert asset["templateId"] == "system-product-hero" and asset["prompt"] == filled

    # The library follows the type: a video template for videos only.
    await page.get_by_text("Video (8s)", exact=True).click()
    options = await picker.locator("option").all_text_contents()
    assert "Product reveal" in options and "Product hero shot" not in options
    await expect(page.get_by_label("Prompt", exact=True)).to_be_visible()
    assert problems.unexpected() == []


async def test_a_prompt_saved_as_a_template_can_be_chosen_deleted_and_the_limit_is_shown(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "uma")
    await page.get_by_label("Prompt", exact=True).fill("A poster of {city} in the rain at night")
    await page.get_by_role("button", name="Save as template").click()
    dialog = page.locator("#template-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#template-save-prompt")).to_have_text("A poster of {city} in the rain at night")
    await page.get_by_label("Template name").fill("Rainy poster")
    await page.get_by_role("button", name="Save template").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_text("Template saved")).to_be_visible()

    picker = page.locator("#template")
    await expect(picker.locator('optgroup[label="Yours"] option')).to_have_text(["Rainy poster"])
    saved = [t for t in (await studio.api.get("/api/ai/templates", headers=studio.auth("uma"))).json()["templates"]
             if t["owner"] == "me"]  # fmt: skip
    assert [(t["name"], t["variables"]) for t in saved] == [("Rainy poster", ["city"])]
    await expect(picker).to_have_value(saved[0]["id"])
    await expect(page.get_by_label("City", exact=True)).to_be_visible()

    await page.get_by_role("button", name="Delete template").click()
    await expect(page.get_by_text("Template deleted")).to_be_visible()
    await expect(picker.locator('optgroup[label="Yours"]')).to_have_count(0)
    await expect(picker).to_have_value("")
    await expect(page.get_by_role("button", name="Delete template")).to_be_hidden()
    listed = (await studio.api.get("/api/ai/templates", headers=studio.auth("uma"))).json()["templates"]
    assert [t for t in listed if t["owner"] == "me"] == []

    # The server's refusal is shown in the dialog: fifty templates are the most a user keeps.
    for number in range(50):
        body = {"name": f"Template {number}", "type": "image", "prompt": f"A picture of {{thing}} number {number}"}
        response = await studio.api.post("/api/ai/templates", json=body, headers=studio.auth("uma"))
        assert response.status_code == 201, response.text
    await page.get_by_label("Prompt", exact=True).fill("One template too many, of {thing}")
    await page.get_by_role("button", name="Save as template").click()
    await page.get_by_label("Template name").fill("The fifty-first")
    await page.get_by_role("button", name="Save template").click()
    await expect(page.locator("#template-save-error")).to_have_text("You can keep at most 50 templates.")
    await expect(dialog).to_be_visible()
    assert problems.unexpected(("/api/ai/templates", 409)) == []


async def test_cancel_on_a_processing_card_ends_it_cancelled_also_when_the_change_comes_live(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "cleo")
    await expect(page.locator("#live-status")).to_have_text("● Live")
    await page.get_by_label("Prompt", exact=True).fill("A castle made of sand at low tide")
    await page.get_by_role("button", name="Generate Image").click()
    castle = card(page, "castle made of sand")
    await expect(castle.locator(".badge-text")).to_have_text("processing")
    await expect(page.locator("#usage-text")).to_contain_text("1 / 10 this month")
    await castle.get_by_role("button", name="Cancel", exact=True).click()
    await expect(castle.locator(".badge-text")).to_have_text("cancelled")
    await expect(castle).to_contain_text("Cancelled: not made and not counted")
    await expect(castle.get_by_role("button", name="Cancel", exact=True)).to_be_hidden()
    await expect(page.get_by_text("Generation cancelled")).to_be_visible()
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 0 / 10 this month", timeout=LIVE_TIMEOUT_MS)

    # Cancelled elsewhere (another tab, the API): the open page learns it from the event stream.
    response = await studio.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A fox asleep in the snow", "provider": "gemini-flash", "type": "image"},
        headers=studio.auth("cleo"),
    )
    assert response.status_code == 202, response.text
    fox = card(page, "fox asleep")
    await expect(fox.locator(".badge-text")).to_have_text("processing", timeout=LIVE_TIMEOUT_MS)
    cancelled = await studio.api.post(f"/api/ai/media/{response.json()['id']}/cancel", headers=studio.auth("cleo"))
    assert cancelled.status_code == 200, cancelled.text
    await expect(fox.locator(".badge-text")).to_have_text("cancelled", timeout=LIVE_TIMEOUT_MS)
    await expect(fox.get_by_role("button", name="Cancel", exact=True)).to_be_hidden()
    await page.screenshot(path=screenshot_path("desktop-cancelled"), full_page=True)
    assert problems.unexpected() == []


@pytest.fixture
def scripted_events(request: pytest.FixtureRequest) -> ScriptedEventStream | None:
    """The gateway's own event stream, or (parametrized "silent") one that tells the page nothing,
    for a test whose page must not learn of a change."""
    return ScriptedEventStream() if getattr(request, "param", None) == "silent" else None


@pytest.mark.parametrize("scripted_events", ["silent"], indirect=True)
async def test_a_cancel_too_late_shows_why_and_the_card_then_shows_the_outcome(
    studio: Studio,
    scripted_events: ScriptedEventStream,
    open_page: Callable[..., Any],
    problems: PageProblems,
    nats_url: str,
) -> None:
    response = await studio.api.post(
        "/api/ai/generate-media",
        json={"prompt": "A hot air balloon above vineyards", "provider": "kie-4o-image", "type": "image"},
        headers=studio.auth("finn"),
    )
    assert response.status_code == 202, response.text
    asset = response.json()
    page = await open_page(f"{studio.base_url}/", token=studio.token("finn"))
    balloon = card(page, "hot air balloon")
    await expect(balloon.locator(".badge-text")).to_have_text("processing")

    # It finishes while the page is not told (the scripted stream stays silent).
    image = render_image(asset["prompt"], "1:1", label="test")
    await publish(nats_url, completed(asset, "finn", studio, image, "image/png"))
    await eventually(lambda: _status_is(studio, "finn", asset["id"], "ready"))
    await balloon.get_by_role("button", name="Cancel", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="Could not cancel")
    await expect(alert).to_contain_text("This generation is ready and can no longer be cancelled.")
    await expect(balloon.locator(".badge-text")).to_have_text("ready")
    await expect(balloon.get_by_role("button", name="Cancel", exact=True)).to_be_hidden()
    assert problems.unexpected((f"/api/ai/media/{asset['id']}/cancel", 409)) == []


async def _status_is(studio: Studio, user: str, asset_id: str, status: str) -> bool:
    response = await studio.api.get(f"/api/ai/media/{asset_id}", headers=studio.auth(user))
    return response.status_code == 200 and response.json()["status"] == status


async def test_edit_on_a_ready_image_shows_the_parent_and_makes_a_child_that_names_it(
    pipeline: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(pipeline.base_url + "/")
    await sign_in(page, "eden")
    await page.get_by_label("Prompt", exact=True).fill("A quiet harbour with fishing boats")
    await page.get_by_role("button", name="Generate Image").click()
    harbour = card(page, "quiet harbour")
    await expect(harbour.get_by_role("button", name="Edit", exact=True)).to_be_hidden()  # not while processing
    await expect(harbour.locator(".badge-text")).to_have_text("ready", timeout=PIPELINE_TIMEOUT_MS)
    [parent] = await gallery_of(pipeline, "eden")

    await harbour.get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit image")
    await expect(dialog).to_be_visible()
    shown = dialog.locator("#edit-parent-image")
    await expect(shown).to_have_attribute("src", re.compile(re.escape(f"{pipeline.base_url}/media/{parent['id']}?")))
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await shown.element_handle())
    await expect(dialog.locator("#edit-parent-prompt")).to_have_text("A quiet harbour with fishing boats")
    await expect(page.get_by_label("Edit provider")).to_have_value("kie-flux-kontext")
    await expect(page.get_by_label("Edit shape")).to_have_value("1:1")
    prompt = page.get_by_label("What should change?")
    await prompt.fill("Stormy")
    await dialog.get_by_role("button", name="Edit image").click()
    await expect(page.locator("#edit-prompt-error")).to_have_text("Describe the change in at least 10 characters")
    await prompt.fill("Make the sky stormy and add a red kite")
    await dialog.get_by_role("button", name="Edit image").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_text("Edit started! ✨")).to_be_visible()

    child = card(page, "red kite")
    await expect(child.locator(".asset-parent")).to_have_text("Edited from this image")
    thumb = child.locator(".asset-parent img.parent-thumb")
    await expect(thumb).to_have_attribute("src", re.compile(re.escape(f"{pipeline.base_url}/media/{parent['id']}?")))
    await expect(child.locator(".badge-text")).to_have_text("ready", timeout=PIPELINE_TIMEOUT_MS)
    await expect(child.locator(".asset-media img")).to_be_visible()
    assets = {asset["id"]: asset for asset in await gallery_of(pipeline, "eden")}
    [made] = [asset for asset in assets.values() if asset["id"] != parent["id"]]
    assert made["parentId"] == parent["id"] and made["provider"] == "kie-flux-kontext"
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 2 / 10 this month", timeout=LIVE_TIMEOUT_MS)
    await page.screenshot(path=screenshot_path("desktop-edit"), full_page=True)
    assert problems.unexpected() == []

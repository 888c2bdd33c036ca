"""The AI Studio page in a real browser: sign-in, the form, the gallery, live updates, the limit dialog."""

import asyncio
import hashlib
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from playwright.async_api import Page, expect

from aistudio_contracts import (
    CaptionGenerated,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    MediaType,
    Provider,
)
from aistudio_contracts.events import StoredMedia
from provider_simulator.media import encode_test_clip, render_image

from ..support.events import publish
from .conftest import PHONE, PageProblems, Studio, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOSTILE_PROMPT = 'A poster that reads <img src=x onerror=alert(1)> in neon, with "quotes" & <b>bold</b>'
LIMIT_MESSAGE = "Free plan allows 10 AI generations per month. Upgrade to Pro for unlimited."
# Changes arrive by the event stream at once; this is only the longest wait before a test gives up, and
# the pipeline's outcomes cross four services on a loaded 2-core machine (never shorter than the page's 30 s).
LIVE_TIMEOUT_MS = 60_000


async def sign_in(page: Page, name: str) -> None:
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Create New Media")).to_be_visible()


async def generate(page: Page, prompt: str, *, video: bool = False) -> None:
    await page.get_by_text("Video (8s)" if video else "Image", exact=True).click()
    await page.get_by_label("Prompt").fill(prompt)
    await page.get_by_role("button", name="Generate Video" if video else "Generate Image").click()


def card(page: Page, prompt: str) -> Any:
    return page.locator("li.asset").filter(has_text=prompt)


async def options_of(page: Page, select_id: str) -> list[str]:
    return await page.locator(f"#{select_id} option").all_text_contents()


async def _until_settled(studio: Studio, user: str, asset_ids: list[str], within: float = 150.0) -> None:
    """Every asset out of processing in the catalog (the API's answer), or an assertion naming them."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        states = {}
        for asset_id in asset_ids:
            response = await studio.api.get(f"/api/ai/media/{asset_id}", headers=studio.auth(user))
            states[asset_id] = response.json().get("status")
        if all(status not in (None, "processing") for status in states.values()):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the catalog never settled them: {states}")
        await asyncio.sleep(0.25)


def completed(asset: dict[str, Any], user: str, studio: Studio, data: bytes, content_type: str) -> GenerationCompleted:
    extension = "png" if content_type == "image/png" else "mp4"
    key = f"browser-test/{asset['id']}.{extension}"
    path = studio.media_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return GenerationCompleted(
        correlation_id=UUID(asset["id"]),
        asset_id=UUID(asset["id"]),
        user_id=user,
        provider=Provider(asset["provider"]),
        media_type=MediaType(asset["type"]),
        prompt=asset["prompt"],
        media=StoredMedia(
            storage_key=key, content_type=content_type, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        ),
    )


async def test_a_user_signs_in_and_generates_an_image_that_appears_as_processing(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "alice")
    await expect(page.locator("#user-name")).to_have_text("alice")
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 0 / 10 this month")
    await expect(page.get_by_text("No generations yet. Create your first AI media above!")).to_be_visible()

    # The providers and aspect ratios follow the media type and the provider.
    assert await options_of(page, "provider") == ["KIE 4O Image (Fast)", "KIE Flux Kontext (HD)", "Gemini 2.5 Flash"]
    assert await options_of(page, "aspect-ratio") == ["1:1 · square", "3:2 · landscape", "2:3 · portrait"]
    await page.get_by_label("AI Provider").select_option("kie-flux-kontext")
    assert [option.split(" ")[0] for option in await options_of(page, "aspect-ratio")] == [
        "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"
    ]  # fmt: skip
    await expect(page.get_by_label("Aspect Ratio")).to_have_value("16:9")
    await page.get_by_text("Video (8s)", exact=True).click()
    assert await options_of(page, "provider") == ["KIE Veo3 (8 seconds)"]
    assert await options_of(page, "aspect-ratio") == ["16:9 · landscape", "9:16 · portrait", "Auto"]
    await expect(page.get_by_role("button", name="Generate Video")).to_be_visible()
    await page.get_by_text("Image", exact=True).click()
    await expect(page.get_by_label("AI Provider")).to_have_value("kie-4o-image")

    # The counter and the inline validation (10 to 1000 characters, after trimming).
    prompt = page.get_by_label("Prompt")
    counter = page.locator("#prompt-counter")
    await expect(counter).to_have_text("0 / 1000 characters")
    await prompt.fill("   short   ")
    await expect(counter).to_have_text("11 / 1000 characters")
    await page.get_by_role("button", name="Generate Image").click()
    await expect(page.locator("#prompt-error")).to_have_text("Prompt must be at least 10 characters")
    await expect(prompt).to_have_attribute("aria-invalid", "true")
    await prompt.fill("x" * 1200)
    await expect(counter).to_have_text("1000 / 1000 characters")
    await expect(page.locator("#prompt-error")).to_be_hidden()

    # The reference URL: checked in the page, and the server's own verdict shown by the field.
    await prompt.fill("A lighthouse on a cliff in a storm")
    reference = page.get_by_label("Reference Image URL (Optional)")
    await reference.fill("ftp://example.com/a.png")
    await page.get_by_role("button", name="Generate Image").click()
    await expect(page.locator("#reference-url-error")).to_contain_text("http(s)")
    await reference.fill("http://127.0.0.1/private.png")
    await page.get_by_role("button", name="Generate Image").click()
    await expect(page.locator("#reference-url-error")).not_to_be_empty()
    await page.screenshot(path=screenshot_path("desktop-validation"))
    await expect(page.locator("li.asset")).to_have_count(0)
    await reference.fill("")

    # A prompt with markup is accepted and shown as the text it is, never as HTML.
    await generate(page, HOSTILE_PROMPT)
    await expect(page.get_by_text("Generation started! ✨")).to_be_visible()
    hostile = card(page, "onerror=alert(1)")
    await expect(hostile).to_have_count(1)
    await expect(hostile.locator(".badge-text")).to_have_text("processing")
    await expect(hostile.get_by_text("Generating…")).to_be_visible()
    await expect(hostile.locator(".asset-prompt")).to_have_text(HOSTILE_PROMPT)
    assert await page.locator("#gallery img, #gallery b").count() == 0
    await expect(prompt).to_have_value("")
    await expect(counter).to_have_text("0 / 1000 characters")
    await expect(page.locator("#usage-text")).to_contain_text("1 / 10 this month")
    await generate(page, "A serene mountain landscape at sunset with vibrant orange and pink clouds")
    await expect(page.locator("li.asset")).to_have_count(2)
    await expect(page.locator("li.asset .asset-prompt").first).to_contain_text("serene mountain")
    await page.screenshot(path=screenshot_path("desktop-processing"))

    # The same user on a phone, already signed in there.
    phone = await open_page(f"{studio.base_url}/", PHONE, token=studio.token("alice"))
    await expect(phone.locator("li.asset")).to_have_count(2)
    await phone.screenshot(path=screenshot_path("phone-processing"), full_page=True)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Your name")).to_be_visible()
    await expect(page.locator("li.asset")).to_have_count(0)
    assert problems.unexpected(("/api/ai/generate-media", 400)) == []


async def test_the_eleventh_generation_of_a_free_user_meets_the_limit_dialog(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    for number in range(10):
        response = await studio.api.post(
            "/api/ai/generate-media",
            json={"prompt": f"Generation number {number} of the month", "provider": "gemini-flash", "type": "image"},
            headers=studio.auth("bob"),
        )
        assert response.status_code == 202, response.text
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "bob")
    await expect(page.locator("li.asset")).to_have_count(10)
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 10 / 10 this month (10 in progress)")

    await generate(page, "One more picture of a red bicycle")
    dialog = page.get_by_role("dialog", name="Monthly limit reached")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_text(LIMIT_MESSAGE)).to_be_visible()
    await expect(dialog).to_contain_text("Your generations renew on")
    await page.screenshot(path=screenshot_path("desktop-limit-dialog"))
    await dialog.get_by_role("button", name="Got it").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("li.asset")).to_have_count(10)
    await expect(page.get_by_label("Prompt")).to_have_value("One more picture of a red bicycle")
    assert problems.unexpected(("/api/ai/generate-media", 403)) == []


async def test_finished_media_and_captions_appear_live_with_previews_and_errors(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems, nats_url: str
) -> None:
    page = await open_page(studio.base_url + "/")
    await sign_in(page, "carol")
    await generate(page, "A golden retriever surfing a wave at dawn")
    await expect(page.locator("li.asset")).to_have_count(1)
    await generate(page, "A timelapse of clouds over a quiet harbour", video=True)
    await expect(page.locator("li.asset")).to_have_count(2)
    await generate(page, "A portrait that the provider will refuse to make")
    await expect(page.locator("li.asset")).to_have_count(3)

    gallery = (await studio.api.get("/api/ai/media", headers=studio.auth("carol"))).json()["assets"]
    failed, video, image = gallery
    # What the generator, poller and captioner publish once the providers are done.
    await publish(
        nats_url,
        completed(image, "carol", studio, render_image(image["prompt"], "1:1", label="test"), "image/png"),
        completed(video, "carol", studio, encode_test_clip(320, 180), "video/mp4"),
        GenerationFailed(
            correlation_id=UUID(failed["id"]),
            asset_id=UUID(failed["id"]),
            user_id="carol",
            provider=Provider(failed["provider"]),
            reason=FailureReason.CONTENT_POLICY,
            message="The provider refused this prompt under its content policy.",
        ),
        CaptionGenerated(
            correlation_id=UUID(image["id"]),
            asset_id=UUID(image["id"]),
            user_id="carol",
            caption="Catching the first wave of the day 🌅🏄 #goldenhour",
        ),
    )

    # The catalog first, through the API: its consumers may take a while on a loaded machine (a message
    # whose first delivery was not acknowledged comes back after ACK_WAIT_SECONDS, 60 s), and that is
    # the backend's time, not the page's. Then the page must show each outcome live.
    await _until_settled(studio, "carol", [image["id"], video["id"], failed["id"]])
    image_card = card(page, "golden retriever")
    await expect(image_card.locator(".badge-text")).to_have_text("ready", timeout=LIVE_TIMEOUT_MS)
    await expect(image_card.locator(".caption-text")).to_have_text(
        "Catching the first wave of the day 🌅🏄 #goldenhour", timeout=LIVE_TIMEOUT_MS
    )
    picture = image_card.locator(".asset-media img")
    await expect(picture).to_be_visible()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await picture.element_handle())
    link = image_card.get_by_role("link", name="Open original ↗")
    assert (await link.get_attribute("href") or "").startswith(f"{studio.base_url}/media/{image['id']}?")
    await expect(image_card.get_by_role("button", name="Caption", exact=True)).to_be_enabled()

    video_card = card(page, "timelapse of clouds")
    await expect(video_card.locator(".badge-text")).to_have_text("ready", timeout=LIVE_TIMEOUT_MS)
    clip = video_card.locator(".asset-media video")
    await expect(clip).to_have_attribute("src", re.compile(re.escape(f"{studio.base_url}/media/{video['id']}?")))
    await page.wait_for_function("video => video.readyState >= 1", arg=await clip.element_handle())
    await expect(video_card.get_by_text("Writing a caption…")).to_be_visible()

    failed_card = card(page, "refuse to make")
    await expect(failed_card.locator(".badge-text")).to_have_text("error", timeout=LIVE_TIMEOUT_MS)
    await expect(failed_card).to_contain_text("The provider refused this prompt under its content policy.")
    await expect(failed_card.get_by_role("button", name="Caption", exact=True)).to_be_hidden()
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 2 / 10 this month", timeout=LIVE_TIMEOUT_MS)

    await page.screenshot(path=screenshot_path("desktop-ready"), full_page=True)
    phone = await open_page(f"{studio.base_url}/", PHONE, token=studio.token("carol"))
    await expect(phone.locator("li.asset .badge-text").first).to_have_text("error")
    await phone.screenshot(path=screenshot_path("phone-ready"), full_page=True)
    assert problems.unexpected() == []


async def test_an_image_and_a_video_made_by_the_simulator_become_ready_with_captions(
    pipeline: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(pipeline.base_url + "/")
    await sign_in(page, "dave")
    await generate(page, "A lighthouse in a storm, painted in oils")
    await expect(page.locator("li.asset")).to_have_count(1)
    await generate(page, "Waves rolling onto a black sand beach", video=True)
    await expect(page.locator("li.asset")).to_have_count(2)

    for prompt, media in (("lighthouse", "img"), ("black sand", "video")):
        finished = card(page, prompt)
        await expect(finished.locator(".badge-text")).to_have_text("ready", timeout=LIVE_TIMEOUT_MS)
        await expect(finished.locator(f".asset-media {media}")).to_be_visible()
        await expect(finished.locator(".caption-text")).not_to_be_empty(timeout=LIVE_TIMEOUT_MS)

    image_card = card(page, "lighthouse")
    automatic = await image_card.locator(".caption-text").text_content()
    await image_card.get_by_role("button", name="Caption", exact=True).click()
    await expect(page.get_by_text("Caption generated! ✨")).to_be_visible()
    await expect(image_card.locator(".caption-text")).not_to_be_empty()
    assert automatic
    await expect(page.locator("#usage-text")).to_have_text("Free plan · 2 / 10 this month", timeout=LIVE_TIMEOUT_MS)
    await page.screenshot(path=screenshot_path("desktop-pipeline"), full_page=True)
    assert problems.unexpected() == []


async def test_a_pro_user_sees_an_unlimited_meter_and_pages_through_a_long_gallery(
    studio: Studio, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    admin = studio.auth("root", role="admin")
    response = await studio.api.put("/api/admin/users/hana/plan", json={"plan": "pro"}, headers=admin)
    assert response.status_code == 200, response.text
    for number in range(53):
        response = await studio.api.post(
            "/api/ai/generate-media",
            json={"prompt": f"Picture number {number:02d} of a series", "provider": "kie-4o-image", "type": "image"},
            headers=studio.auth("hana"),
        )
        assert response.status_code == 202, response.text

    page = await open_page(studio.base_url + "/")
    await sign_in(page, "hana")
    await expect(page.locator("#usage-text")).to_have_text("Pro plan · 0 this month · unlimited")
    await expect(page.locator("li.asset")).to_have_count(50)
    await expect(page.locator("li.asset .asset-prompt").first).to_have_text("Picture number 52 of a series")
    await page.get_by_role("button", name="Load more").click()
    await expect(page.locator("li.asset")).to_have_count(53)
    await expect(page.locator("li.asset .asset-prompt").last).to_have_text("Picture number 00 of a series")
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    assert problems.unexpected() == []

"""Sign-in by the host app's #token=: taken only when a configured host app frames the page, and never
in place of another user's session without asking (a link anyone can send must not sign a reader in
as someone else: login CSRF)."""

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Frame, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from aistudio_devstack import free_port

from ..gateway.conftest import gateway_settings
from ..support.services import serving
from .conftest import EVENTS_PATH, PageProblems, Studio, serving_studio

pytestmark = [pytest.mark.browser, pytest.mark.integration]

IGNORED = "Sign-in link ignored"


@dataclass
class HostApp:
    """A host app on an origin of its own (localhost, beside the gateway's 127.0.0.1) that frames the page."""

    url: str
    studio: Studio

    async def open(self, page: Page) -> Frame:
        await page.goto(self.url)
        frame = page.frame(name="studio")
        assert frame is not None
        await frame.wait_for_load_state()
        return frame


def host_page(studio_url: str) -> Starlette:
    async def index(_: Request) -> HTMLResponse:
        # No favicon to ask for (a 404 would count as a page problem).
        return HTMLResponse(
            '<!doctype html><title>Host</title><link rel="icon" href="data:,">'
            f'<iframe name="studio" src="{studio_url}/"></iframe>'
        )

    return Starlette(routes=[Route("/", index)])


@pytest.fixture
async def host_app(
    chromium: str,
    usage_service: None,
    nats_url: str,
    database_url: str,
    media_dir: Path,
    studio_options: dict[str, object],
) -> AsyncIterator[HostApp]:
    port = free_port()
    host_origin = f"http://localhost:{port}"

    def settings(base_url: str) -> Any:
        options = {"public_base_url": base_url, "embed_host_origins": host_origin, **studio_options}
        return gateway_settings(nats_url, database_url, media_dir, **options)

    async with contextlib.AsyncExitStack() as stack:
        studio = await stack.enter_async_context(serving_studio(settings, media_dir))
        await stack.enter_async_context(serving(host_page(studio.base_url), port))
        yield HostApp(f"{host_origin}/", studio)


async def offer_token(frame: Frame, token: str) -> None:
    """What a host app does: hands the framed page a token in its fragment."""
    await frame.evaluate("token => { window.location.hash = 'token=' + token }", token)


async def test_a_sign_in_link_opened_on_its_own_does_not_replace_the_session(
    host_app: HostApp, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    studio = host_app.studio
    alice = studio.token("alice")
    page = await open_page(f"{studio.base_url}/#token={studio.token('mallory')}", token=alice)
    await expect(page.locator("#user-name")).to_have_text("alice")
    await expect(page.get_by_text(IGNORED)).to_be_visible()
    await expect(page.get_by_text("You are still signed in as alice.", exact=False)).to_be_visible()
    assert "token" not in page.url
    assert await page.evaluate("localStorage.getItem('aistudio.token')") == alice

    # The same link followed while the page is open: refused the same way.
    await page.evaluate("token => { window.location.hash = 'token=' + token }", studio.token("mallory"))
    await expect(page.get_by_text(IGNORED)).to_have_count(2)
    await expect(page.locator("#user-name")).to_have_text("alice")
    assert await page.evaluate("localStorage.getItem('aistudio.token')") == alice
    assert problems.unexpected() == []


async def test_a_sign_in_link_opened_on_its_own_signs_nobody_in(
    host_app: HostApp, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    studio = host_app.studio
    page = await open_page(f"{studio.base_url}/#token={studio.token('mallory')}")
    await expect(page.get_by_text(IGNORED)).to_be_visible()
    await expect(page.get_by_label("Your name")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('aistudio.token')") is None
    assert problems.unexpected() == []


@pytest.mark.parametrize("studio_options", [{"dev_auth_enabled": False}])
async def test_without_dev_sign_in_the_page_takes_the_token_of_the_host_app_that_frames_it(
    host_app: HostApp, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    page = await open_page(host_app.url)
    frame = await host_app.open(page)
    await frame.get_by_label("Your name").fill("frank")
    await frame.get_by_role("button", name="Sign in").click()
    await expect(frame.get_by_text("Sign in through the host app to use AI Studio.")).to_be_visible()

    await offer_token(frame, "not-a-valid-token")
    await expect(frame.get_by_text("Your session has expired. Please sign in again.")).to_be_visible()

    token = host_app.studio.token("frank")
    await offer_token(frame, token)
    await expect(frame.locator("#user-name")).to_have_text("frank")
    await expect(frame.get_by_text("No generations yet. Create your first AI media above!")).to_be_visible()
    assert "token" not in frame.url
    unauthorized = [("/api/usage", 401), ("/api/ai/media", 401), (EVENTS_PATH, 401)]
    assert problems.unexpected(("/api/dev/token", 404), *unauthorized) == []


async def test_the_host_apps_token_for_another_user_asks_before_switching(
    host_app: HostApp, open_page: Callable[..., Any], problems: PageProblems
) -> None:
    studio = host_app.studio
    page = await open_page(host_app.url)
    frame = await host_app.open(page)
    grace = studio.token("grace")
    await offer_token(frame, grace)
    await expect(frame.locator("#user-name")).to_have_text("grace")

    # A fresh token for the same user is simply taken: nobody else is signed in by it.
    renewed = studio.token("grace", role=None)
    await offer_token(frame, renewed)
    await expect(frame.locator("#switch-dialog")).to_be_hidden()

    await offer_token(frame, studio.token("heidi"))
    dialog = frame.locator("#switch-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("You are signed in as grace. The app wants to sign you in as heidi.")
    await dialog.get_by_role("button", name="Stay signed in").click()
    await expect(frame.locator("#user-name")).to_have_text("grace")
    await expect(frame.get_by_text("You are still signed in as grace.")).to_be_visible()

    await offer_token(frame, studio.token("heidi"))
    await dialog.get_by_role("button", name="Switch account").click()
    await expect(frame.locator("#user-name")).to_have_text("heidi")
    assert problems.unexpected() == []

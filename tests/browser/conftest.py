"""The AI Studio page in headless Chromium (Debian's package, never a downloaded browser) against the
gateway and the usage service running in-process over a real NATS JetStream and Postgres."""

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from aistudio_devstack import free_port
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token

from ..gateway.conftest import gateway_settings, usage_service  # noqa: F401  (usage_service is a fixture)
from ..support.services import TEST_JWT_SECRET, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HTTP_ERROR_NOTE = "Failed to load resource: the server responded with a status of"
EVENTS_PATH = "/api/ai/media/events"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    reason = f"Debian's chromium is not installed ({CHROMIUM}); tools/ci/install-chromium.sh installs it"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)")
    pytest.skip(reason)


@dataclass
class Studio:
    """The gateway serving the page, with an HTTP client to arrange things the page then shows."""

    base_url: str
    api: httpx.AsyncClient
    media_dir: Path
    # Until GET /api/ai/media/events exists the page polls, and Chromium notes the stream's 404.
    expected_responses: tuple[tuple[str, int], ...] = ()

    def token(self, user_id: str) -> str:
        return mint_token(TEST_JWT_SECRET, user_id)

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"}


@dataclass
class PageProblems:
    """Everything the page reported as wrong: console errors and uncaught exceptions."""

    errors: list[tuple[str, str]] = field(default_factory=list)  # (message, url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append((message.text, message.location.get("url", "")))

    def on_page_error(self, error: Error) -> None:
        self.errors.append((f"uncaught: {error}", ""))

    def unexpected(self, *expected_responses: tuple[str, int]) -> list[str]:
        """The errors, less Chromium's own notes of HTTP error statuses the test caused on purpose
        (path, status): those come from the network layer, not from the page's code."""
        return [
            f"{text} ({url})"
            for text, url in self.errors
            if not any(
                url.split("?")[0].endswith(path) and text.startswith(f"{HTTP_ERROR_NOTE} {status} ")
                for path, status in expected_responses
            )
        ]


@pytest.fixture
def studio_options() -> dict[str, object]:
    """Tests override this to change the gateway's settings (e.g. dev_auth_enabled=False)."""
    return {}


@pytest.fixture
async def studio(
    usage_service: None,  # noqa: F811
    nats_url: str,
    database_url: str,
    media_dir: Path,
    studio_options: dict[str, object],
) -> AsyncIterator[Studio]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = gateway_settings(
        nats_url,
        database_url,
        media_dir,
        **{"dev_auth_enabled": True, "public_base_url": base_url, **studio_options},
    )
    app = create_gateway(settings)
    has_events = any(getattr(route, "path", None) == EVENTS_PATH for route in app.routes)
    async with serving(app, port), httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        yield Studio(base_url, api, media_dir, () if has_events else ((EVENTS_PATH, 404),))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def open_page(browser: Browser, problems: PageProblems) -> Callable[..., object]:
    async def open_(url: str, viewport: dict[str, int] = DESKTOP) -> Page:
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        await page.goto(url)
        return page

    return open_


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"

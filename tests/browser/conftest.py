"""The AI Studio page in headless Chromium (Debian's package, never a downloaded browser) against the
gateway and the usage service running in-process over a real NATS JetStream and Postgres."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright, expect
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aistudio_devstack import free_port
from captioner.app import create_app as create_captioner
from captioner.settings import CaptionerSettings
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from gateway.settings import GatewaySettings
from generator.app import create_app as create_generator
from generator.settings import GeneratorSettings
from poller.app import create_app as create_poller
from poller.settings import PollerSettings

# usage_service, lifecycle_simulator and simulator are fixtures, imported to be used here.
from ..gateway.conftest import gateway_settings, usage_service  # noqa: F401
from ..lifecycle.conftest import CALLBACK_KEY, lifecycle_simulator, provider_env, simulator  # noqa: F401
from ..support.services import TEST_JWT_SECRET, common_env, running, serving
from ..support.simulator import SimulatorAdmin

# How long an action or an expectation may wait for the page: generous, since a loaded 2-core machine
# (the suite on two workers, each with its servers and a Chromium) takes seconds for what is instant
# alone; Playwright's own default for `expect` is 5 s. A passing test never waits for it.
PAGE_TIMEOUT_MS = 30_000
expect.set_options(timeout=PAGE_TIMEOUT_MS)

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

    def token(self, user_id: str, role: str | None = None) -> str:
        return mint_token(TEST_JWT_SECRET, user_id, role=role)

    def auth(self, user_id: str, role: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role)}"}


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
def chromium() -> str:
    return chromium_executable()


class ScriptedEventStream:
    """Stands in for GET /api/ai/media/events: each connection streams what the test sends, until
    the test ends it; the request headers of every connection are kept."""

    def __init__(self, refuse_with: int | None = None) -> None:
        self.refuse_with = refuse_with  # an HTTP status: the stream is down, as when a proxy fails
        self.connections: list[dict[str, str]] = []
        self._chunks: asyncio.Queue[str | None] = asyncio.Queue()
        self._connected = asyncio.Event()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == EVENTS_PATH:
                self.connections.append(dict(Request(scope).headers))
                self._connected.set()
                if self.refuse_with:
                    await JSONResponse({"error": "Unavailable"}, self.refuse_with)(scope, receive, send)
                else:
                    await StreamingResponse(self._body(), media_type="text/event-stream")(scope, receive, send)
            else:
                await app(scope, receive, send)

        return asgi

    async def _body(self) -> AsyncIterator[str]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    def send(self, chunk: str) -> None:
        self._chunks.put_nowait(chunk)

    def end_connection(self) -> None:
        self._chunks.put_nowait(None)

    async def connection(self, number: int) -> dict[str, str]:
        """The headers of the number-th connection (from 1), once it is made."""
        async with asyncio.timeout(60):  # a page's load and sign-in, on a loaded machine
            while len(self.connections) < number:
                self._connected.clear()
                await self._connected.wait()
        return self.connections[number - 1]


@contextlib.asynccontextmanager
async def serving_studio(
    make_settings: Callable[[str], GatewaySettings], media_dir: Path, events: ScriptedEventStream | None = None
) -> AsyncIterator[Studio]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_gateway(make_settings(base_url))
    served = events.wrap(app) if events else app
    async with serving(served, port), httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        yield Studio(base_url, api, media_dir)


@pytest.fixture
def studio_options() -> dict[str, object]:
    """Tests override this to change the gateway's settings (e.g. dev_auth_enabled=False)."""
    return {}


@pytest.fixture
def scripted_events() -> ScriptedEventStream | None:
    """Tests override this to put a ScriptedEventStream in front of the gateway's event stream."""
    return None


@pytest.fixture
async def studio(
    chromium: str,
    usage_service: None,  # noqa: F811
    nats_url: str,
    database_url: str,
    media_dir: Path,
    studio_options: dict[str, object],
    scripted_events: ScriptedEventStream | None,
) -> AsyncIterator[Studio]:
    """The gateway and the usage service: assets stay processing unless a test publishes their outcome."""

    def settings(base_url: str) -> GatewaySettings:
        options = {"dev_auth_enabled": True, "public_base_url": base_url, **studio_options}
        return gateway_settings(nats_url, database_url, media_dir, **options)

    async with serving_studio(settings, media_dir, scripted_events) as studio:
        yield studio


@pytest.fixture
async def pipeline(
    chromium: str,
    usage_service: None,  # noqa: F811
    nats_url: str,
    database_url: str,
    media_dir: Path,
    simulator: SimulatorAdmin,  # noqa: F811
) -> AsyncIterator[Studio]:
    """The whole system against the provider simulator: generator, poller and captioner too."""
    env = common_env(nats_url, database_url)
    providers = {**provider_env(simulator.url), "media_dir": str(media_dir)}

    def settings(base_url: str) -> GatewaySettings:
        return gateway_settings(
            nats_url,
            database_url,
            media_dir,
            dev_auth_enabled=True,
            public_base_url=base_url,
            callback_signing_key=CALLBACK_KEY,
        )

    async with contextlib.AsyncExitStack() as stack:
        studio = await stack.enter_async_context(serving_studio(settings, media_dir))
        generator = GeneratorSettings(
            **env,
            **providers,
            public_base_url=studio.base_url,
            callback_signing_key=CALLBACK_KEY,
            kie_submit_window_seconds=1.0,
        )
        await stack.enter_async_context(running(create_generator(generator)))
        await stack.enter_async_context(
            running(create_poller(PollerSettings(**env, **providers, poll_interval_seconds=0.2)))
        )
        await stack.enter_async_context(running(create_captioner(CaptionerSettings(**env, **providers))))
        yield studio


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
    async def open_(
        url: str, viewport: dict[str, int] = DESKTOP, *, fake_clock: bool = False, token: str | None = None
    ) -> Page:
        # `token`: a session this browser already has (kept by an earlier visit), as a signed-in user's.
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        kept: Any = [{"origin": origin, "localStorage": [{"name": "aistudio.token", "value": token}]}] if token else []
        context = await browser.new_context(viewport=viewport, storage_state={"cookies": [], "origins": kept})
        page = await context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        if fake_clock:  # timers the test can fast-forward (page.clock)
            await page.clock.install()
        await page.goto(url)
        return page

    return open_


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"

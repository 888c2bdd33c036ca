"""How the gateway serves the page: its files, its catalog and its Content-Security-Policy."""

import re
from pathlib import Path

import pytest

from aistudio_contracts import PROVIDERS
from gateway.api.routes.pages import STATIC_DIR

from ..gateway.conftest import Api, api, make_gateway_settings, usage_service  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


async def test_the_page_is_served_with_a_strict_content_security_policy(api: Api) -> None:  # noqa: F811
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["base-uri"] == "'none'"
    assert policy["img-src"] == "'self' http://127.0.0.1:8000 data:"  # result links live on the public base URL
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/app.js", "text/javascript"), ("/static/styles.css", "text/css"), ("/static/favicon.svg", "image/svg")],
)
async def test_the_pages_files_are_served_with_their_types(api: Api, path: str, content_type: str) -> None:  # noqa: F811
    response = await api.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)


@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/index.html", "/static/..%2Fapi%2Froutes%2Fpages.py", "/static/../app.py"]
)
async def test_only_the_pages_own_files_are_served(api: Api, path: str) -> None:  # noqa: F811
    response = await api.client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


async def test_the_page_offers_what_the_catalog_accepts(api: Api) -> None:  # noqa: F811
    catalog = (await api.client.get("/static/catalog.json")).json()
    assert (catalog["promptMinLength"], catalog["promptMaxLength"]) == (10, 1000)
    assert [(p["id"], p["label"], p["type"], tuple(p["aspectRatios"])) for p in catalog["providers"]] == [
        (spec.provider.value, spec.label, spec.media_type.value, spec.aspect_ratios) for spec in PROVIDERS.values()
    ]


def test_the_page_has_no_inline_script_or_style() -> None:
    for path in Path(STATIC_DIR).glob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son\w+=|\sstyle=|<style", html), path
    for path in Path(STATIC_DIR).glob("*.js"):
        assert "innerHTML" not in path.read_text() and "insertAdjacentHTML" not in path.read_text(), path

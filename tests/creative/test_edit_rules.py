"""The editing rules without servers: which asset may be edited, and how an edit request is read."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from aistudio_contracts import Provider
from gateway.domain.edits import EditParent, NotEditable, editable_parent, parse_edit_request
from gateway.domain.requests import InvalidRequest
from gateway.links import LinkSigner

PARENT = EditParent(uuid4(), "media/2026/12/parent.png")


def _asset(**overrides: Any) -> dict[str, Any]:
    return {
        "id": PARENT.asset_id,
        "type": "image",
        "status": "ready",
        "result_storage_key": PARENT.storage_key,
    } | overrides


def test_a_ready_image_is_the_start_of_an_edit() -> None:
    assert editable_parent(_asset()) == PARENT


@pytest.mark.parametrize(
    ("asset", "error"),
    [
        (_asset(type="video"), "Only images can be edited"),
        (_asset(status="processing", result_storage_key=None), "Image not ready"),
        (_asset(status="error", result_storage_key=None), "Image not ready"),
        (_asset(status="cancelled", result_storage_key=None), "Image not ready"),
    ],
)
def test_a_video_or_an_image_that_is_not_ready_is_not_editable(asset: dict[str, Any], error: str) -> None:
    with pytest.raises(NotEditable) as refused:
        editable_parent(asset)
    assert refused.value.error == error


def test_an_edit_defaults_to_flux_kontext_with_its_default_ratio_and_names_its_parent() -> None:
    spec = parse_edit_request({"prompt": "  Make the sky stormy  "}, PARENT)
    assert (spec.provider, spec.aspect_ratio, spec.prompt) == (Provider.KIE_FLUX_KONTEXT, "16:9", "Make the sky stormy")
    assert (spec.parent_id, spec.parent_storage_key, spec.reference_image_url) == (
        PARENT.asset_id,
        PARENT.storage_key,
        None,
    )


def test_every_problem_of_an_edit_request_is_named_at_once() -> None:
    with pytest.raises(InvalidRequest) as invalid:
        parse_edit_request({"prompt": "x", "provider": "kie-veo3", "aspectRatio": "9:16"}, PARENT)
    assert [issue.path for issue in invalid.value.issues] == [("prompt",), ("provider",)]


def test_the_aspect_ratio_is_checked_against_the_chosen_provider() -> None:
    assert parse_edit_request({"prompt": "Add a boat", "provider": "kie-4o-image", "aspectRatio": "2:3"}, PARENT)
    with pytest.raises(InvalidRequest) as invalid:
        parse_edit_request({"prompt": "Add a boat", "provider": "kie-4o-image", "aspectRatio": "16:9"}, PARENT)
    assert [issue.path for issue in invalid.value.issues] == [("aspectRatio",)]


def test_an_edit_of_another_parent_is_another_request_for_idempotency() -> None:
    other = EditParent(uuid4(), "media/other.png")
    body = {"prompt": "Add a boat"}
    assert parse_edit_request(body, PARENT).fingerprint() != parse_edit_request(body, other).fingerprint()


def test_an_input_link_expires_when_asked_whatever_the_links_ttl() -> None:
    links = LinkSigner("k" * 32, "https://studio.example", ttl_seconds=60)
    until = datetime(2026, 12, 1, 14, 30, 0, 500_000, tzinfo=UTC)
    url = links.media_url_until(PARENT.asset_id, until)
    expires = int(url.split("expires=")[1].split("&")[0])
    signature = url.split("signature=")[1]
    assert expires == int(until.timestamp()) + 1
    assert url.startswith(f"https://studio.example/media/{PARENT.asset_id}?")
    assert links.verify(PARENT.asset_id, expires, signature, now=until.timestamp())
    assert not links.verify(PARENT.asset_id, expires, signature, now=until.timestamp() + 2)


def test_an_input_link_is_at_the_providers_address_of_the_gateway_and_a_browser_link_at_the_public_one() -> None:
    links = LinkSigner("k" * 32, "http://127.0.0.1:8000", ttl_seconds=60, provider_base_url="http://gateway:8000/")
    until = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert links.media_url_until(PARENT.asset_id, until).startswith(f"http://gateway:8000/media/{PARENT.asset_id}?")
    assert links.media_url(PARENT.asset_id).startswith(f"http://127.0.0.1:8000/media/{PARENT.asset_id}?")
    # Unset (blank): the providers reach the gateway where browsers do.
    same = LinkSigner("k" * 32, "https://studio.example", ttl_seconds=60, provider_base_url="")
    assert same.media_url_until(PARENT.asset_id, until).startswith("https://studio.example/media/")

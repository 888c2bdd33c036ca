"""Editing one of the user's ready images over real NATS and Postgres with the simulator: the provider
gets the parent (KIE by our signed link, which it fetches; Gemini inline) and the child is a generation
of its own, with `parentId`, one unit, and no charge when the provider cannot read the input."""

import hashlib
import math
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest

from aistudio_devstack import free_port

from .conftest import Creative, eventually

pytestmark = pytest.mark.integration

# The gateway's STUCK_ASSET_GRACE_SECONDS default: an edit's input link lives until the deadline plus it.
STUCK_GRACE_SECONDS = 300


async def _ready_image(system: Creative, user: str, prompt: str = "A lighthouse on a cliff at dawn") -> dict[str, Any]:
    asset = await system.generate(user, prompt=prompt, provider="gemini-flash", type="image")
    finished = await system.wait_finished(user, asset["id"], within=60)
    assert finished["status"] == "ready", finished
    return finished


async def _edit(system: Creative, user: str, parent_id: str, **body: Any) -> httpx.Response:
    headers = {**system.auth(user), **body.pop("headers", {})}
    return await system.api.post(f"/api/ai/media/{parent_id}/edit", json=body, headers=headers)


async def _bytes_sha256(system: Creative, url: str) -> str:
    response = await system.api.get(url)
    assert response.status_code == 200
    return hashlib.sha256(response.content).hexdigest()


async def _task_for(system: Creative, prompt: str) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        tasks = [task for task in system.simulator.tasks() if task["prompt"] == prompt]
        return tasks[0] if tasks and tasks[0]["state"] != "generating" else None

    task: dict[str, Any] = await eventually(finished, f"a finished KIE task for {prompt!r}", within=60)
    return task


async def _deadline_of(system: Creative, asset_id: str) -> float:
    row = await system.row("SELECT deadline_at FROM gateway.media_assets WHERE id = $1", UUID(asset_id))
    assert row is not None
    return float(row["deadline_at"].timestamp())


async def test_an_edit_with_flux_sends_our_signed_link_of_the_parent_and_yields_a_ready_child(
    system: Creative,
) -> None:
    parent = await _ready_image(system, "edna")
    prompt = "Make the sky stormy and add rain"
    response = await _edit(system, "edna", parent["id"], prompt=prompt)
    assert response.status_code == 202, response.text
    child = response.json()
    assert (child["status"], child["parentId"], child["provider"]) == ("processing", parent["id"], "kie-flux-kontext")
    assert child["id"] != parent["id"] and child["prompt"] == prompt

    finished = await system.wait_finished("edna", child["id"], within=60)
    assert finished["status"] == "ready", finished
    assert finished["parentId"] == parent["id"] and finished["resultUrl"]

    task = await _task_for(system, prompt)
    assert task["model"] == "flux-kontext"
    [fetched] = task["inputs"]
    link = urlsplit(fetched["url"])
    assert f"{link.scheme}://{link.netloc}" == system.gateway_url and link.path == f"/media/{parent['id']}"
    query = parse_qs(link.query)
    assert set(query) == {"expires", "signature"}
    # Alive until the job's deadline plus the sweeper's grace: a job queued until its deadline still sends a live link.
    expected_expiry = math.ceil(await _deadline_of(system, child["id"]) + STUCK_GRACE_SECONDS)
    assert int(query["expires"][0]) == expected_expiry
    assert (fetched["ok"], fetched["status"], fetched["contentType"]) == (True, 200, "image/png")
    assert fetched["sha256"] == await _bytes_sha256(system, parent["resultUrl"])


async def test_an_edit_with_4o_image_sends_the_parent_in_files_url(system: Creative) -> None:
    parent = await _ready_image(system, "otto")
    prompt = "Turn the lighthouse red and white"
    response = await _edit(system, "otto", parent["id"], prompt=prompt, provider="kie-4o-image", aspectRatio="1:1")
    assert response.status_code == 202, response.text
    finished = await system.wait_finished("otto", response.json()["id"], within=60)
    assert (finished["status"], finished["parentId"], finished["aspectRatio"]) == ("ready", parent["id"], "1:1")

    task = await _task_for(system, prompt)
    assert task["model"] == "4o-image"
    [fetched] = task["inputs"]
    assert urlsplit(fetched["url"]).path == f"/media/{parent['id']}" and fetched["ok"]
    kie_bodies = [record["body"] for record in system.simulator.requests("kie") if record["path"].endswith("/generate")]
    [body] = [body for body in kie_bodies if isinstance(body, dict) and body.get("prompt") == prompt]
    assert body["filesUrl"] == [fetched["url"]]


async def test_an_edit_with_gemini_sends_the_parent_inline(system: Creative) -> None:
    parent = await _ready_image(system, "gina")
    prompt = "Paint it as a watercolour"
    response = await _edit(system, "gina", parent["id"], prompt=prompt, provider="gemini-flash")
    assert response.status_code == 202, response.text
    finished = await system.wait_finished("gina", response.json()["id"], within=60)
    assert (finished["status"], finished["parentId"], finished["provider"]) == ("ready", parent["id"], "gemini-flash")

    async with httpx.AsyncClient(base_url=system.simulator.url, timeout=10) as admin:
        calls = (await admin.get("/_admin/gemini/calls")).json()
    [call] = [call for call in calls if call["prompt"] == prompt]
    [image] = call["inlineImages"]
    assert image["mimeType"] == "image/png"
    assert image["sha256"] == await _bytes_sha256(system, parent["resultUrl"])
    # Read from our store, never fetched back through our own public link.
    assert not [record for record in system.simulator.requests("kie") if prompt in str(record["body"])]


async def test_another_users_asset_or_an_unknown_id_is_not_found(system: Creative) -> None:
    parent = await _ready_image(system, "hana")
    for user, asset_id in (("ivan", parent["id"]), ("hana", str(uuid4())), ("hana", "not-an-id")):
        response = await _edit(system, user, asset_id, prompt="Add a rainbow over the sea")
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "Media asset not found"}
    ivan = await system.usage("ivan")
    assert ivan["used"] + ivan["reserved"] == 0


async def test_a_video_or_a_processing_image_cannot_be_edited(system: Creative) -> None:
    video = await system.generate("vic", prompt="A wave breaking on a reef", provider="kie-veo3", type="video")
    video = await system.wait_finished("vic", video["id"], within=60)
    assert video["status"] == "ready"
    refused = await _edit(system, "vic", video["id"], prompt="Make the wave bigger")
    assert refused.status_code == 409
    assert refused.json()["error"] == "Only images can be edited" and "video" in refused.json()["message"]

    slow = await system.generate(
        "vic", prompt="A slow sunrise over hills [sim:duration=120]", provider="kie-flux-kontext", type="image"
    )
    refused = await _edit(system, "vic", slow["id"], prompt="Add some sheep on the hills")
    assert refused.status_code == 409
    body = refused.json()
    assert (body["error"], body["status"]) == ("Image not ready", "processing")
    assert "only a ready image can be edited" in body["message"]
    usage = await system.usage("vic")
    assert usage["used"] + usage["reserved"] == 2  # the video and the slow image; no refused edit


async def test_bad_edit_requests_are_answered_in_the_seeds_shape(system: Creative) -> None:
    parent = await _ready_image(system, "bea")
    cases = [
        ({"prompt": "x"}, ["prompt"]),
        ({"prompt": "Add a small boat", "provider": "kie-veo3"}, ["provider"]),
        ({"prompt": "Add a small boat", "provider": "kie-flux-kontext", "aspectRatio": "5:4"}, ["aspectRatio"]),
        ({"prompt": "Add a small boat", "provider": "kie-4o-image", "aspectRatio": "16:9"}, ["aspectRatio"]),
    ]
    for body, path in cases:
        response = await _edit(system, "bea", parent["id"], **body)
        assert response.status_code == 400, (body, response.text)
        answer = response.json()
        assert answer["error"] == "Invalid input" and [issue["path"] for issue in answer["details"]] == [path]
    usage = await system.usage("bea")
    assert usage["used"] + usage["reserved"] == 1  # the parent only (its charge may still be on its way)


async def test_an_edit_consumes_one_unit_and_its_retry_the_same_one(system: Creative) -> None:
    parent = await _ready_image(system, "una")
    usage = await system.usage("una")
    assert usage["used"] + usage["reserved"] == 1
    key = {"Idempotency-Key": "edit-once"}
    first = await _edit(system, "una", parent["id"], prompt="Add a flock of gulls", headers=key)
    again = await _edit(system, "una", parent["id"], prompt="Add a flock of gulls", headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    finished = await system.wait_finished("una", first.json()["id"], within=60)
    assert finished["status"] == "ready"

    async def charged_once() -> dict[str, Any] | None:
        usage = await system.usage("una")
        return usage if usage["reserved"] == 0 else None

    usage = await eventually(charged_once, "the edit's unit committed")
    assert usage["used"] == 2
    reused = await _edit(system, "una", parent["id"], prompt="Something else entirely", headers=key)
    assert reused.status_code == 422


@pytest.mark.parametrize("creative_options", [{"gateway_public_base_url": f"http://127.0.0.1:{free_port()}"}])
async def test_an_input_image_the_provider_cannot_fetch_fails_the_edit_without_charge(system: Creative) -> None:
    # PUBLIC_BASE_URL points where nothing listens: the link KIE gets is unreachable from it.
    parent = await _ready_image(system, "nora")
    prompt = "Add snow on the cliff"
    response = await _edit(system, "nora", parent["id"], prompt=prompt)
    assert response.status_code == 202, response.text
    failed = await system.wait_finished("nora", response.json()["id"], within=60)
    assert failed["status"] == "error", failed
    assert failed["errorCode"] == "invalid_input" and "fetch the image" in failed["errorMessage"]

    task = await _task_for(system, prompt)
    assert task["errorCode"] == 451
    [fetched] = task["inputs"]
    assert not fetched["ok"] and fetched["status"] is None

    async def released() -> dict[str, Any] | None:
        usage = await system.usage("nora")
        return usage if usage["reserved"] == 0 else None

    usage = await eventually(released, "the failed edit's unit released")
    assert usage["used"] == 1  # the parent only


async def test_a_flux_edit_that_kie_refuses_goes_to_gemini_with_the_parent_inline(system: Creative) -> None:
    parent = await _ready_image(system, "fern")
    prompt = "Add a hot air balloon [sim:submit=501]"  # KIE's definite "generation failed": the image fallback
    response = await _edit(system, "fern", parent["id"], prompt=prompt)
    assert response.status_code == 202, response.text
    finished = await system.wait_finished("fern", response.json()["id"], within=60)
    assert (finished["status"], finished["provider"], finished["requestedProvider"]) == (
        "ready",
        "gemini-flash",
        "kie-flux-kontext",
    )
    assert finished["parentId"] == parent["id"]

    async with httpx.AsyncClient(base_url=system.simulator.url, timeout=10) as admin:
        calls = (await admin.get("/_admin/gemini/calls")).json()
    [call] = [call for call in calls if call["prompt"] == prompt]
    assert [image["sha256"] for image in call["inlineImages"]] == [await _bytes_sha256(system, parent["resultUrl"])]

"""Variants: several images from one request, reserved all at once or not at all, each its own
asset settled on its own; 4o Image makes them in one paid task."""

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest

from .conftest import Creative

pytestmark = pytest.mark.integration


async def _batch(system: Creative, user: str, variants: int, provider: str = "gemini-flash") -> httpx.Response:
    body = {"prompt": f"A paper boat on a pond, {variants} ways", "provider": provider, "type": "image"}
    return await system.api.post(
        "/api/ai/generate-media", json={**body, "variants": variants}, headers=system.auth(user)
    )


async def _all_finished(system: Creative, user: str, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [await system.wait_finished(user, asset["id"], within=90) for asset in assets]


async def test_a_batch_answers_one_asset_per_variant_each_settled_on_its_own(system: Creative) -> None:
    response = await _batch(system, "vera", 3, provider="kie-flux-kontext")
    assert response.status_code == 202, response.text
    batch = response.json()
    assert len(batch["assets"]) == 3
    assert {asset["batchId"] for asset in batch["assets"]} == {batch["batchId"]}
    finished = await _all_finished(system, "vera", batch["assets"])
    assert [asset["status"] for asset in finished] == ["ready"] * 3
    assert len({asset["resultUrl"] for asset in finished}) == 3
    assert (await system.settled_usage("vera"))["used"] == 3


async def test_one_variant_answers_a_single_asset_as_before(system: Creative) -> None:
    single = await _batch(system, "vera", 1)
    assert single.status_code == 202
    assert "batchId" not in single.json() or single.json()["batchId"] is None
    assert single.json()["status"] == "processing"


async def test_a_video_cannot_have_variants(system: Creative) -> None:
    body = {"prompt": "A paper boat on a pond", "provider": "kie-veo3", "type": "video", "variants": 2}
    response = await system.api.post("/api/ai/generate-media", json=body, headers=system.auth("vera"))
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == ["variants"]


async def test_three_variants_with_two_units_left_are_refused_whole_even_when_racing(system: Creative) -> None:
    first = await asyncio.gather(*(_batch(system, "fran", 4) for _ in range(3)))
    # Ten free units: two batches of four fit, the third (racing them) is refused whole.
    assert sorted(response.status_code for response in first) == [202, 202, 403]
    assert (await system.usage("fran"))["remaining"] == 2

    racing = await asyncio.gather(*(_batch(system, "fran", 3) for _ in range(4)))
    assert [response.status_code for response in racing] == [403] * 4
    refused = racing[0].json()
    assert refused["error"] == "Monthly media generation limit reached" and refused["limit"] == 10
    usage = await system.usage("fran")
    assert usage["used"] + usage["reserved"] == 8 and usage["remaining"] == 2

    two = await _batch(system, "fran", 2)
    assert two.status_code == 202
    assert (await system.usage("fran"))["remaining"] == 0


async def test_four_4o_variants_are_one_kie_task_and_four_ready_assets(system: Creative) -> None:
    response = await _batch(system, "olga", 4, provider="kie-4o-image")
    assert response.status_code == 202, response.text
    finished = await _all_finished(system, "olga", response.json()["assets"])
    assert [asset["status"] for asset in finished] == ["ready"] * 4
    task_ids = await system.row(
        "SELECT array_agg(DISTINCT provider_task_id) AS ids FROM gateway.media_assets WHERE batch_id = $1",
        UUID(response.json()["batchId"]),
    )
    assert task_ids is not None and len(task_ids["ids"]) == 1
    assert len({asset["resultUrl"] for asset in finished}) == 4
    tasks = [task for task in await asyncio.to_thread(system.simulator.tasks) if "paper boat" in str(task["prompt"])]
    assert len(tasks) == 1 and tasks[0]["nVariants"] == 4
    assert (await system.settled_usage("olga"))["used"] == 4


async def test_three_4o_variants_are_a_task_of_four_with_the_spare_not_delivered(system: Creative) -> None:
    response = await _batch(system, "olga", 3, provider="kie-4o-image")
    assert response.status_code == 202, response.text
    finished = await _all_finished(system, "olga", response.json()["assets"])
    assert [asset["status"] for asset in finished] == ["ready"] * 3
    tasks = [task for task in await asyncio.to_thread(system.simulator.tasks) if "paper boat" in str(task["prompt"])]
    assert len(tasks) == 1 and tasks[0]["nVariants"] == 4
    assert (await system.settled_usage("olga"))["used"] == 3

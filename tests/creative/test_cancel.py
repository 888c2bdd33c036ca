"""A user cancels a processing generation: before submission nothing is ever sent, after it the
task is no longer followed and its late result is not delivered; the unit goes back either way."""

import asyncio
from typing import Any

import pytest

from .conftest import Creative, eventually

pytestmark = pytest.mark.integration

VIDEO = {"prompt": "A drone shot over a foggy forest at dawn", "provider": "kie-veo3", "type": "video"}
WAIT_FOR_PROVIDER = 60.0
IMAGE = {"prompt": "Stylized product photo of supplements", "provider": "gemini-flash", "type": "image"}


async def _unit_back(system: Creative, user: str) -> dict[str, Any]:
    async def released() -> dict[str, Any] | None:
        usage = await system.usage(user)
        return usage if (usage["used"], usage["reserved"]) == (0, 0) else None

    return await eventually(released, "the unit released")  # type: ignore[no-any-return]


# One KIE slot per ten minutes: a first video takes it, so the second waits in the job table, unsent.
@pytest.mark.parametrize(
    "creative_options", [{"generator_settings": {"kie_submit_limit": 1, "kie_submit_window_seconds": 600}}]
)
async def test_a_cancel_before_submission_ends_cancelled_and_nothing_is_ever_sent(system: Creative) -> None:
    await system.generate("alice", **{**VIDEO, "prompt": "A first video takes the slot [sim:duration=60]"})
    waiting_prompt = "A second video waits for a slot"
    asset = await system.generate("alice", **{**VIDEO, "prompt": waiting_prompt})
    await eventually(
        lambda: system.row(
            "SELECT 1 FROM generator.jobs WHERE asset_id = $1 AND state = 'waiting' AND request IS NOT NULL",
            asset["id"],
        ),
        "the second job to wait for a slot",
    )
    response = await system.cancel("alice", asset["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    job = await eventually(
        lambda: system.row(
            "SELECT state, failure_reason FROM generator.jobs WHERE asset_id = $1 AND state = 'failed'", asset["id"]
        ),
        "the generator to end the job",
    )
    assert job["failure_reason"] == "cancelled"
    usage = await system.usage("alice")
    assert usage["reserved"] <= 1 and usage["used"] == 0  # only the first video's unit is held
    submitted = [entry["prompt"] for entry in system.simulator._get("/_admin/submissions")]
    assert waiting_prompt not in submitted and len(submitted) == 1
    assert (await system.asset("alice", asset["id"]))["status"] == "cancelled"


async def test_a_cancel_after_submission_stops_following_the_task_and_never_delivers_its_result(
    system: Creative,
) -> None:
    asset = await system.generate("bob", **{**VIDEO, "prompt": "A slow pan across a harbour [sim:duration=3]"})
    await eventually(lambda: asyncio.to_thread(system.simulator.tasks), "the KIE task to exist")
    response = await system.cancel("bob", asset["id"])
    assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text
    await _unit_back(system, "bob")

    task = await eventually(
        lambda: system.row(
            "SELECT state, outcome FROM poller.tasks WHERE asset_id = $1 AND state = 'done'", asset["id"]
        ),
        "the poller to stop following the task",
    )
    assert task["outcome"] == "cancelled"  # the paid task that delivered nothing: waste
    # The provider finishes the task anyway (and calls back): the asset stays cancelled and uncharged.
    await eventually(
        lambda: _finished_on_the_provider(system), "the provider to finish the task", within=WAIT_FOR_PROVIDER
    )
    await asyncio.sleep(1.0)
    done = await system.asset("bob", asset["id"])
    assert (done["status"], done["resultUrl"]) == ("cancelled", None)
    assert (await system.settled_usage("bob"))["used"] == 0
    assert system.simulator.stats()["submissions"] == 1


async def _finished_on_the_provider(system: Creative) -> bool:
    tasks = await asyncio.to_thread(system.simulator.tasks)
    return bool(tasks) and all(task["state"] != "generating" for task in tasks)


async def test_a_ready_or_failed_asset_cannot_be_cancelled(system: Creative) -> None:
    ready = await system.generate("carol", **IMAGE)
    failed = await system.generate("carol", **{**IMAGE, "prompt": "Something forbidden [sim:gemini=blocked_prompt]"})
    assert (await system.wait_finished("carol", ready["id"]))["status"] == "ready"
    assert (await system.wait_finished("carol", failed["id"]))["status"] == "error"
    for asset in (ready, failed):
        response = await system.cancel("carol", asset["id"])
        assert response.status_code == 409, response.text
    assert (await system.asset("carol", ready["id"]))["status"] == "ready"


@pytest.mark.parametrize("creative_options", [{"generator": False}])
async def test_another_users_asset_is_not_found_and_a_repeated_cancel_answers_the_same(system: Creative) -> None:
    asset = await system.generate("dave", **VIDEO)
    assert (await system.cancel("erin", asset["id"])).status_code == 404
    assert (await system.cancel("dave", "not-a-uuid")).status_code == 404
    first = await system.cancel("dave", asset["id"])
    again = await system.cancel("dave", asset["id"])
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "cancelled"
    listed = (await system.api.get("/api/ai/media?status=cancelled", headers=system.auth("dave"))).json()
    assert [item["id"] for item in listed["assets"]] == [asset["id"]]

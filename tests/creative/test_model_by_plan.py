"""Cost follows the plan: a free user's video is made with veo3_fast and a pro user's with veo3,
Flux Kontext pro and max likewise; the plan is the one the reservation answered at acceptance."""

import asyncio

import pytest

from aistudio_contracts import Plan, Provider
from generator.domain.models import ModelsByPlan

from .conftest import Creative, eventually

pytestmark = pytest.mark.integration

MODELS = ModelsByPlan(veo_free="veo3_fast", veo_pro="veo3", flux_free="flux-kontext-pro", flux_pro="flux-kontext-max")


def test_each_plan_gets_its_model_and_a_request_without_a_plan_the_free_one() -> None:
    assert MODELS.model_for(Provider.KIE_VEO3, Plan.FREE) == "veo3_fast"
    assert MODELS.model_for(Provider.KIE_VEO3, Plan.PRO) == "veo3"
    assert MODELS.model_for(Provider.KIE_FLUX_KONTEXT, Plan.PRO) == "flux-kontext-max"
    assert MODELS.model_for(Provider.KIE_FLUX_KONTEXT, None) == "flux-kontext-pro"
    assert MODELS.model_for(Provider.KIE_4O_IMAGE, Plan.PRO) is None


async def test_free_and_pro_users_get_their_models(system: Creative) -> None:
    promoted = await system.api.put(
        "/api/admin/users/paula/plan", json={"plan": "pro"}, headers=system.auth_admin("root")
    )
    assert promoted.status_code == 200, promoted.text
    jobs = {
        ("fred", "kie-veo3", "video"): "veo3_fast",
        ("paula", "kie-veo3", "video"): "veo3",
        ("fred", "kie-flux-kontext", "image"): "flux-kontext-pro",
        ("paula", "kie-flux-kontext", "image"): "flux-kontext-max",
    }
    for user, provider, media_type in jobs:
        prompt = f"A lighthouse for {user} made by {provider}"
        asset = await system.generate(user, prompt=prompt, provider=provider, type=media_type)
        assert (await system.wait_finished(user, asset["id"], within=60))["status"] == "ready"

    async def all_tasks() -> list[dict[str, object]] | None:
        tasks = await asyncio.to_thread(system.simulator.tasks)
        return tasks if len(tasks) == len(jobs) else None

    tasks = await eventually(all_tasks, "every KIE task")
    made = {str(task["prompt"]): task["requestedModel"] for task in tasks}
    for (user, provider, _), model in jobs.items():
        assert made[f"A lighthouse for {user} made by {provider}"] == model

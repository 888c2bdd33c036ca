"""Style presets: listed for the page, composed into the provider's prompt on the server, with
the user's own prompt and the style kept on the asset."""

import asyncio

import pytest

from aistudio_contracts import PROMPT_MAX_LENGTH, PROVIDERS, STYLES, Provider, compose_prompt

from .conftest import Creative, eventually

pytestmark = pytest.mark.integration


def test_a_style_never_pushes_the_prompt_past_the_providers_limit() -> None:
    longest = "word " * (PROMPT_MAX_LENGTH // 5)
    for provider, spec in PROVIDERS.items():
        for style in STYLES.values():
            composed = compose_prompt(longest.strip(), style, provider)
            assert len(composed) <= spec.max_prompt_length
            assert composed.startswith(longest.strip())


def test_a_style_is_appended_after_the_users_words() -> None:
    composed = compose_prompt("A cat on a sofa.", STYLES["cinematic"], Provider.KIE_FLUX_KONTEXT)
    assert composed == f"A cat on a sofa. Style: {STYLES['cinematic'].direction}"
    assert compose_prompt("A cat on a sofa", None, Provider.KIE_FLUX_KONTEXT) == "A cat on a sofa"


async def test_the_styles_are_listed_with_the_types_they_suit(system: Creative) -> None:
    response = await system.api.get("/api/ai/styles", headers=system.auth("sam"))
    assert response.status_code == 200
    styles = {style["id"]: style for style in response.json()["styles"]}
    assert {"cinematic", "minimalist", "vibrant", "photorealistic", "illustration", "product"} <= set(styles)
    assert styles["cinematic"]["types"] == ["image", "video"]
    assert styles["product"]["types"] == ["image"]
    assert styles["cinematic"]["name"] == "Cinematic" and styles["cinematic"]["description"]


async def test_a_style_reaches_the_providers_prompt_and_the_asset_keeps_prompt_and_style(system: Creative) -> None:
    prompt = "A glass teapot on a wooden table"
    asset = await system.generate("sam", prompt=prompt, provider="kie-flux-kontext", type="image", style="product")
    assert (asset["prompt"], asset["style"]) == (prompt, "product")
    done = await system.wait_finished("sam", asset["id"], within=60)
    assert (done["status"], done["prompt"], done["style"]) == ("ready", prompt, "product")

    async def the_task() -> dict[str, object] | None:
        tasks = await asyncio.to_thread(system.simulator.tasks)
        return next((task for task in tasks if str(task["prompt"]).startswith(prompt)), None)

    task = await eventually(the_task, "the KIE task")
    assert task["prompt"] == f"{prompt}. Style: {STYLES['product'].direction}"


async def test_an_unknown_style_or_one_not_offered_for_the_type_is_a_400(system: Creative) -> None:
    body = {"prompt": "A glass teapot on a table", "provider": "kie-flux-kontext", "type": "image"}
    unknown = await system.api.post(
        "/api/ai/generate-media", json={**body, "style": "baroque"}, headers=system.auth("sam")
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "Invalid input"
    assert unknown.json()["details"][0]["path"] == ["style"]
    video = {"prompt": "A glass teapot on a table", "provider": "kie-veo3", "type": "video", "style": "product"}
    not_offered = await system.api.post("/api/ai/generate-media", json=video, headers=system.auth("sam"))
    assert not_offered.status_code == 400
    assert (await system.usage("sam"))["reserved"] == 0

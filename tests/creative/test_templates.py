"""Prompt templates: the built-in library and the user's own, and generating from one."""

import asyncio

import pytest

from gateway.domain.templates import BUILT_IN, MissingVariables, Template, render, variables_of

from .conftest import Creative, eventually

pytestmark = pytest.mark.integration


def test_a_templates_variables_are_its_placeholders_once_each_in_order() -> None:
    assert variables_of("A {thing} in {place}, a {thing} again") == ["thing", "place"]


def test_rendering_names_every_missing_or_blank_variable() -> None:
    template = Template("t", "T", BUILT_IN["system-product-hero"].type, "A {product} on a {surface}", "me")
    assert render(template, {"product": "mug", "surface": "desk"}) == "A mug on a desk"
    with pytest.raises(MissingVariables) as missing:
        render(template, {"product": "  "})
    assert missing.value.names == ["product", "surface"]


async def test_the_library_lists_built_ins_then_the_users_own_which_they_alone_can_delete(system: Creative) -> None:
    saved = await system.api.post(
        "/api/ai/templates",
        json={"name": "My mug", "type": "image", "prompt": "A {colour} mug on a marble counter"},
        headers=system.auth("tina"),
    )
    assert saved.status_code == 201, saved.text
    mine = saved.json()
    assert (mine["owner"], mine["variables"]) == ("me", ["colour"])

    listed = (await system.api.get("/api/ai/templates", headers=system.auth("tina"))).json()["templates"]
    owners = [template["owner"] for template in listed]
    assert owners[-1] == "me" and owners.count("me") == 1 and "system" in owners
    others = (await system.api.get("/api/ai/templates", headers=system.auth("otto"))).json()["templates"]
    assert mine["id"] not in {template["id"] for template in others}

    assert (await system.api.delete(f"/api/ai/templates/{mine['id']}", headers=system.auth("otto"))).status_code == 404
    builtin = "system-product-hero"
    assert (await system.api.delete(f"/api/ai/templates/{builtin}", headers=system.auth("tina"))).status_code == 404
    assert (await system.api.delete(f"/api/ai/templates/{mine['id']}", headers=system.auth("tina"))).status_code == 204
    listed = (await system.api.get("/api/ai/templates", headers=system.auth("tina"))).json()["templates"]
    assert "me" not in {template["owner"] for template in listed}


async def test_a_template_is_checked_and_a_user_keeps_at_most_fifty(system: Creative) -> None:
    short = await system.api.post(
        "/api/ai/templates", json={"name": "x" * 81, "type": "image", "prompt": "short"}, headers=system.auth("tina")
    )
    assert short.status_code == 400
    assert {tuple(detail["path"]) for detail in short.json()["details"]} == {("name",), ("prompt",)}

    async def save(index: int) -> int:
        body = {"name": f"T{index}", "type": "image", "prompt": f"A {{thing}} number {index} on a shelf"}
        return (await system.api.post("/api/ai/templates", json=body, headers=system.auth("tina"))).status_code

    codes = await asyncio.gather(*(save(index) for index in range(53)))
    assert sorted(codes) == [201] * 50 + [409] * 3


async def test_a_template_reaches_the_providers_prompt_with_its_variables_filled(system: Creative) -> None:
    body = {
        "templateId": "system-product-hero",
        "variables": {"product": "linen tote bag", "surface": "oak bench"},
        "provider": "kie-flux-kontext",
        "style": "minimalist",
    }
    response = await system.api.post("/api/ai/generate-media", json=body, headers=system.auth("tina"))
    assert response.status_code == 202, response.text
    asset = response.json()
    expected = "A linen tote bag on a oak bench, soft studio light, hero shot for an online shop"
    assert (asset["prompt"], asset["templateId"], asset["type"]) == (expected, "system-product-hero", "image")

    async def the_task() -> dict[str, object] | None:
        tasks = await asyncio.to_thread(system.simulator.tasks)
        return next((task for task in tasks if str(task["prompt"]).startswith(expected)), None)

    task = await eventually(the_task, "the KIE task")
    assert "minimalist composition" in str(task["prompt"])


async def test_missing_variables_are_a_400_naming_them_and_reserve_nothing(system: Creative) -> None:
    body = {"templateId": "system-product-hero", "variables": {"product": "mug"}, "provider": "gemini-flash"}
    response = await system.api.post("/api/ai/generate-media", json=body, headers=system.auth("tina"))
    assert response.status_code == 400
    assert response.json()["details"] == [{"path": ["variables"], "message": "Missing variables: surface"}]
    unknown = await system.api.post(
        "/api/ai/generate-media", json={**body, "templateId": "nope"}, headers=system.auth("tina")
    )
    assert unknown.status_code == 400
    assert (await system.usage("tina"))["reserved"] == 0
